"""The Dataspace Protocol 2025-1: messages, state machines and the HTTPS binding.

``messages`` validates every message against the official JSON Schemas shipped in ``spec/``;
``states`` holds the contract-negotiation and transfer-process state machines as pure values.
"""

PROTOCOL_VERSION = "2025-1"
CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
