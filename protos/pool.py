"""The descriptor pool orbitmesh's generated protobuf code registers its files in.

Not protobuf's default pool: the Open Inference Protocol names its messages
``inference.*`` (the package is part of the protocol: it is in every method's path), and
tritonclient and kserve register their own copies of those names in the default pool, so a
process could not import both them and orbitmesh. Messages serialise the same from any
pool; the gRPC servers hand this one to reflection. ``scripts/gen_protos.py`` points the
generated modules here.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool, timestamp_pb2

__all__ = ["POOL"]

POOL = descriptor_pool.DescriptorPool()
# The well-known types our files import must be in the same pool before them.
POOL.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
