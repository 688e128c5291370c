# OpenBao for docker compose: one node, raft storage on the `vault` volume, and the
# static-key seal, so it unseals itself on every start and a restart of this container
# alone loses nothing (policies, AppRoles, the database engine, stored tokens). The key
# (32 random bytes, 0600) is made once by the `vault-seal` one-shot on the same volume.
# Use a KMS/HSM seal and TLS in production.
storage "raft" {
  path    = "/openbao/state/raft"
  node_id = "mcpmesh"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
  # The bootstrap makes a root token from the recovery key (kept on the `approle`
  # volume, which only it mounts) at every `docker compose up`, and revokes it.
  disable_unauthed_generate_root_endpoints = false
}

seal "static" {
  current_key_id = "mcpmesh-1"
  current_key    = "file:///openbao/state/seal/key"
}

api_addr     = "http://vault:8200"
cluster_addr = "http://vault:8201"
ui           = false
