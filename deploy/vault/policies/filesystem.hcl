# mcpmesh-filesystem: the filesystem service reads its own static secrets and nothing else.
# (It needs none today; the path exists so a future one does not widen another policy.)
path "mcpmesh/data/services/filesystem/*" {
  capabilities = ["read"]
}

# Sign its own audit checkpoints with its own Transit key; it can never read the key,
# and cannot sign for another service.
path "transit/sign/audit-filesystem" {
  capabilities = ["update"]
}
