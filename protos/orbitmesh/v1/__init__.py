"""Generated protobuf and gRPC code for the orbitmesh.v1 API (see scripts/gen_protos.py)."""
