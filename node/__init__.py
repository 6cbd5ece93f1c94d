"""Running a chain: the compiler launcher, the managed local Anvil node, deployment,
and the Hyperledger Besu production kit."""
