# mcpmesh-github: the GitHub service reads its own static secrets — a token, or a GitHub
# App's id, installation id and private key — and per-principal tokens under
# services/github/principals/<principal>/. Nothing of any other service.
path "mcpmesh/data/services/github/*" {
  capabilities = ["read"]
}

# Sign its own audit checkpoints with its own Transit key; it can never read the key,
# and cannot sign for another service.
path "transit/sign/audit-github" {
  capabilities = ["update"]
}
