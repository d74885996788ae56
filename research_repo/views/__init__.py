"""HTML blueprints, one per feature: parse, authorize, call a service, commit once, render."""
