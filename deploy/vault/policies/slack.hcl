# mcpmesh-slack: the Slack service reads its own bot and user tokens (and per-principal
# ones under services/slack/principals/<principal>/). Nothing of any other service.
path "mcpmesh/data/services/slack/*" {
  capabilities = ["read"]
}
