"""Generated protobuf and gRPC code for the Open Inference Protocol (package inference)."""
