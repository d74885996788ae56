"""The operations of the product. Services flush, write the audit event and raise domain
errors; the view, command or job that called them commits."""
