"""Conformance: proof that every backend builds the same network as the IR and the cost model say."""
