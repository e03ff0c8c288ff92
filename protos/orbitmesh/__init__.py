"""orbitmesh protobuf packages, one per API version."""
