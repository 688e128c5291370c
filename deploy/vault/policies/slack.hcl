# mcpmesh-slack: the Slack service reads its own bot and user tokens (and per-principal
# ones under services/slack/principals/<principal>/). Nothing of any other service.
path "mcpmesh/data/services/slack/*" {
  capabilities = ["read"]
}

# Sign its own audit checkpoints with its own Transit key; it can never read the key,
# and cannot sign for another service.
path "transit/sign/audit-slack" {
  capabilities = ["update"]
}
