# mcpmesh-operator: what `mcpmesh secrets set` uses on a dev mesh. It may write any
# service's static secrets but read none of them: a leaked operator token cannot be used
# to harvest the tokens it was used to store.
path "mcpmesh/data/services/*" {
  capabilities = ["create", "update"]
}

# Check the services' audit checkpoint signatures (`mcpmesh audit verify`); it cannot
# sign, so an operator token cannot make forged events look covered either.
path "transit/verify/audit-*" {
  capabilities = ["update"]
}
