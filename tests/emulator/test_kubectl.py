"""The real kubectl against the emulator: its conformance client."""


async def test_kubectl_lists_nodes(kubectl):
    result = await kubectl("get", "nodes", "-o", "name")
    assert result.stdout.split() == ["node/gn1", "node/gn2"]
