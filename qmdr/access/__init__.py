"""Who may do what: scoped agent tokens (``tokens``, their stores) and the access a request carries (``scope``)."""
