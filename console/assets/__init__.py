"""Assets: credentials, variables, connections and certificates that runbooks and hosts
use by name, encrypted at rest and masked wherever a job's output could show them."""
