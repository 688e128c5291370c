# mcpmesh-postgres: the Postgres service reads its own static secrets and asks the
# database secrets engine for short-lived logins of its two roles. It may revoke those
# leases (at shutdown) and renew them (the default policy allows sys/leases/renew).
path "mcpmesh/data/services/postgres/*" {
  capabilities = ["read"]
}

path "database/creds/postgres-readonly" {
  capabilities = ["read"]
}

path "database/creds/postgres-readwrite" {
  capabilities = ["read"]
}

path "sys/leases/revoke/database/creds/postgres-readonly/*" {
  capabilities = ["update"]
}

path "sys/leases/revoke/database/creds/postgres-readwrite/*" {
  capabilities = ["update"]
}

# Sign its own audit checkpoints with its own Transit key; it can never read the key,
# and cannot sign for another service.
path "transit/sign/audit-postgres" {
  capabilities = ["update"]
}
