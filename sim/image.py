"""The DRAM image the accelerator runs: the packer from a spikex-net-v1 network, and the
reader of the results the accelerator writes back. The format is ``docs/image.md``.

Everything is little-endian; addresses are byte addresses relative to the image base and
every region starts on a 64-byte boundary. Spikes are packed per input, time-major:
bit ``t % 32`` of word ``t // 32`` of an input is its spike at step ``t``. Each layer's
output region (spikes, then SP-MB tags) is the next layer's input region.

With time blocks (``block_steps`` less than T) a sample is cut into blocks of that many
steps (the last may be shorter): its spikes are stored block after block, each block
packed as above from the block's first step, and its SP-MB tags are the tags of the whole
sample followed by the tags of each block.
"""

from dataclasses import dataclass

import numpy as np

from hw.layout import (DESCRIPTOR_FIELDS, DESCRIPTOR_WORDS, HEADER_FIELDS, HEADER_WORDS, MAGIC,
                       SPMB_FC_FEATURES, VERSION, pack_words)
from spikex.netfile import SpikexError


__all__ = ["MAGIC", "VERSION", "HEADER_WORDS", "DESCRIPTOR_WORDS", "LayerRegions", "Image",
           "layout", "pack", "spmb_inputs", "output_group", "read_layer_spikes",
           "read_layer_tags", "pack_spikes",
           "unpack_spikes", "spmb_tags", "time_blocks", "write_memh", "read_memh"]


ALIGN = 64


def _align(n):
    return -(-n // ALIGN) * ALIGN


def spmb_inputs(layer):
    """Inputs (flattened C, H, W) per SP-MB: one input channel for conv, 16 features for fc."""
    if layer.kind == "conv":
        return layer.in_size[0] * layer.in_size[1]
    return SPMB_FC_FEATURES


def output_group(net, k):
    """Outputs per SP-MB tag of layer ``k``'s output: the next layer's grouping (16 features
    after the last layer)."""
    return spmb_inputs(net.layers[k + 1]) if k + 1 < len(net.layers) else SPMB_FC_FEATURES


def words_per_input(timesteps):
    return -(-timesteps // 32)


def time_blocks(steps, block_steps=None):
    """``(block size, blocks)`` of a sample of ``steps`` steps: one block of ``steps`` when
    ``block_steps`` is None or not less than ``steps``."""
    if block_steps is None or block_steps >= steps:
        return steps, 1
    if block_steps < 1:
        raise SpikexError(f"time block {block_steps}: must be at least one step")
    return block_steps, -(-steps // block_steps)


def _blocked(spikes, block_steps):
    """``[B, T, ...]`` -> ``[B * blocks, block_steps, ...]``, zero-padded after the last step."""
    batch, steps = spikes.shape[:2]
    size, blocks = time_blocks(steps, block_steps)
    padded = np.zeros((batch, size * blocks, *spikes.shape[2:]), spikes.dtype)
    padded[:, :steps] = spikes
    return padded.reshape(batch * blocks, size, *spikes.shape[2:])


def pack_spikes(spikes, block_steps=None):
    """``[B, T, *shape]`` 0/1 -> uint32 ``[B, inputs, ceil(T/32)]``, time-major per input;
    with time blocks, ``[B, blocks * inputs * ceil(block_steps/32)]``, block after block."""
    if time_blocks(spikes.shape[1], block_steps)[1] > 1:
        return pack_spikes(_blocked(spikes, block_steps)).reshape(spikes.shape[0], -1)
    batch, steps = spikes.shape[:2]
    flat = spikes.reshape(batch, steps, -1).transpose(0, 2, 1)          # [B, I, T]
    padded = np.zeros((*flat.shape[:2], words_per_input(steps) * 32), np.uint64)
    padded[:, :, :steps] = flat
    bits = padded.reshape(*flat.shape[:2], -1, 32) << np.arange(32, dtype=np.uint64)
    return bits.sum(axis=3).astype(np.uint32)


def unpack_spikes(words, timesteps, shape):
    """Inverse of :func:`pack_spikes`: uint32 ``[B, inputs, W]`` -> uint8 ``[B, T, *shape]``."""
    bits = (words[..., None].astype(np.uint64) >> np.arange(32, dtype=np.uint64)) & 1
    bits = bits.reshape(*words.shape[:2], -1)[:, :, :timesteps]
    return bits.transpose(0, 2, 1).reshape(words.shape[0], timesteps, *shape).astype(np.uint8)


def spmb_tags(spikes, group, block_steps=None):
    """SP-MB activity tags: ``[B, T, *shape]`` -> bool ``[B, ceil(inputs / group)]``; with
    time blocks, bool ``[B, blocks, ceil(inputs / group)]``, each block's."""
    blocks = time_blocks(spikes.shape[1], block_steps)[1]
    if blocks > 1:
        tags = spmb_tags(_blocked(spikes, block_steps), group)
        return tags.reshape(spikes.shape[0], blocks, -1)
    batch = spikes.shape[0]
    active = spikes.reshape(batch, spikes.shape[1], -1).any(axis=1)     # [B, inputs]
    pad = (-active.shape[1]) % group
    active = np.pad(active, ((0, 0), (0, pad)))
    return active.reshape(batch, -1, group).any(axis=2)


def _pack_bits(tags):
    """bool ``[B, n]`` -> uint32 ``[B, ceil(n/32)]``, bit ``i % 32`` of word ``i // 32``."""
    n = tags.shape[1]
    padded = np.zeros((tags.shape[0], words_per_input(n) * 32), np.uint64)
    padded[:, :n] = tags
    return (padded.reshape(tags.shape[0], -1, 32) << np.arange(32, dtype=np.uint64)).sum(axis=2).astype(np.uint32)


@dataclass(frozen=True)
class LayerRegions:
    """Where one layer's data lives in the image (byte addresses)."""
    descriptor: int
    weights: int
    weight_row_bytes: int
    input_spikes: int
    input_tags: int
    output_spikes: int
    output_tags: int
    input_sample_bytes: int
    output_sample_bytes: int
    input_tag_sample_bytes: int
    output_tag_sample_bytes: int


@dataclass
class Image:
    """A packed DRAM image and the layout needed to read results back."""
    data: bytearray
    layers: list          # LayerRegions per layer
    net: object           # the Network it was packed from
    block_steps: int = None   # the time block, None when a sample is one block

    def read_words(self, address, count):
        return np.frombuffer(self.data, dtype="<u4", count=count, offset=address).copy()


def _weight_bytes(weight_bits):
    if weight_bits <= 8:
        return 1
    if weight_bits <= 16:
        return 2
    raise SpikexError(f"weight_bits {weight_bits}: the DRAM image holds weights of at most 16 bits")


def _layer_geometry(layer):
    """(C, H, W, M, R, R', E, stride, padding) with an fc layer as a 1x1 convolution."""
    if layer.kind == "conv":
        return (layer.in_channels, *layer.in_size, layer.out_channels, *layer.out_size,
                layer.kernel, layer.stride, layer.padding)
    return (layer.in_features, 1, 1, layer.out_features, 1, 1, 1, 1, 0)


def _tag_words(tags):
    """Tag words of a sample: all blocks' tags, then (time blocks) each block's."""
    if tags.ndim == 2:
        return _pack_bits(tags)
    overall = _pack_bits(tags.any(axis=1))
    blocks = _pack_bits(tags.reshape(-1, tags.shape[2])).reshape(tags.shape[0], -1)
    return np.concatenate([overall, blocks], axis=1)


def layout(net, block_steps=None):
    """Where :func:`pack` puts each layer's data: its :class:`LayerRegions` (byte offsets
    from the image's base), without packing the image."""
    return _layout(net, block_steps)[0]


def _layout(net, block_steps):
    """``(regions, descriptors, size)``: each layer's :class:`LayerRegions`, the offset of
    the descriptor table and the image's bytes."""
    wbytes = _weight_bytes(net.weight_bits)
    steps, batch = net.timesteps, net.batch
    size, blocks = time_blocks(steps, block_steps)
    wpi = words_per_input(size)
    cursor = _align(HEADER_WORDS * 4)
    descriptors = cursor
    cursor = _align(cursor + DESCRIPTOR_WORDS * 4 * len(net.layers))

    def spike_region(shape, group):
        nonlocal cursor
        inputs = int(np.prod(shape))
        sample_bytes = _align(blocks * inputs * wpi * 4)
        tag_words = words_per_input(-(-inputs // group))
        tag_sample_bytes = _align((tag_words if blocks == 1 else (1 + blocks) * tag_words) * 4)
        spikes_at = cursor
        cursor = _align(cursor + sample_bytes * batch)
        tags_at = cursor
        cursor = _align(cursor + tag_sample_bytes * batch)
        return spikes_at, tags_at, sample_bytes, tag_sample_bytes

    regions, previous = [], None
    weight_at = []
    for layer in net.layers:
        row = _align(layer.fan_in * wbytes)
        weight_at.append((cursor, row))
        cursor = _align(cursor + row * layer.weight_shape[0])
    for k, layer in enumerate(net.layers):
        if previous is None:
            previous = spike_region(layer.in_shape, spmb_inputs(layer))
        out = spike_region(layer.out_shape, output_group(net, k))
        regions.append(LayerRegions(
            descriptor=descriptors + k * DESCRIPTOR_WORDS * 4,
            weights=weight_at[k][0], weight_row_bytes=weight_at[k][1],
            input_spikes=previous[0], input_tags=previous[1],
            output_spikes=out[0], output_tags=out[1],
            input_sample_bytes=previous[2], output_sample_bytes=out[2],
            input_tag_sample_bytes=previous[3], output_tag_sample_bytes=out[3]))
        previous = out
    return regions, descriptors, cursor


def pack(net, base=0, block_steps=None):
    """Pack ``net`` (weights, layer-0 input spikes and tags, descriptors) into an :class:`Image`,
    in time blocks of ``block_steps`` steps when that is less than T.

    Output regions are allocated and zeroed; the accelerator fills them.
    """
    regions, descriptors, cursor = _layout(net, block_steps)
    wbytes = _weight_bytes(net.weight_bits)
    steps, batch = net.timesteps, net.batch
    size, blocks = time_blocks(steps, block_steps)
    data = bytearray(cursor)

    def put(address, words, dtype="<u4"):
        raw = np.ascontiguousarray(words, dtype=dtype).tobytes()
        data[address:address + len(raw)] = raw

    put(0, pack_words(HEADER_FIELDS, HEADER_WORDS, magic=MAGIC, version=VERSION,
                      layers=len(net.layers), batch=batch, timesteps=steps,
                      weight_bits=net.weight_bits, v_bits=net.v_bits, weight_bytes=wbytes,
                      descriptors=descriptors + base, descriptor_words=DESCRIPTOR_WORDS,
                      time_block=size if blocks > 1 else 0))
    for k, (layer, w, reg) in enumerate(zip(net.layers, net.weights, regions)):
        c, h, wd, m, r, rp, e, s, p = _layer_geometry(layer)
        put(reg.descriptor, pack_words(
            DESCRIPTOR_FIELDS, DESCRIPTOR_WORDS, kind=0 if layer.kind == "conv" else 1,
            in_channels=c, in_h=h, in_w=wd, out_channels=m, out_h=r, out_w=rp, kernel=e,
            stride=s, padding=p, threshold=layer.threshold, leak_shift=layer.leak_shift,
            tws=layer.tws, fan_in=layer.fan_in, in_group=spmb_inputs(layer),
            weights=reg.weights + base, weight_row_bytes=reg.weight_row_bytes,
            in_spikes=reg.input_spikes + base, in_sample_bytes=reg.input_sample_bytes,
            in_tags=reg.input_tags + base, in_tag_sample_bytes=reg.input_tag_sample_bytes,
            out_spikes=reg.output_spikes + base, out_sample_bytes=reg.output_sample_bytes,
            out_tags=reg.output_tags + base, out_tag_sample_bytes=reg.output_tag_sample_bytes,
            out_group=output_group(net, k)))
        rows = np.zeros((layer.weight_shape[0], reg.weight_row_bytes // wbytes), f"<i{wbytes}")
        rows[:, :layer.fan_in] = w.reshape(len(w), -1)      # f = c*E*E + ky*E + kx
        put(reg.weights, rows, f"<i{wbytes}")
    first = regions[0]
    words = pack_spikes(net.input, block_steps)
    tags = _tag_words(spmb_tags(net.input, spmb_inputs(net.layers[0]), block_steps))
    for b in range(batch):
        put(first.input_spikes + b * first.input_sample_bytes, words[b])
        put(first.input_tags + b * first.input_tag_sample_bytes, tags[b])
    return Image(data, regions, net, block_steps=size if blocks > 1 else None)


def read_layer_spikes(image, k, data=None):
    """Layer ``k``'s output spikes as the accelerator wrote them: uint8 ``[B, T, *out_shape]``."""
    data = image.data if data is None else data
    layer, reg, net = image.net.layers[k], image.layers[k], image.net
    size, blocks = time_blocks(net.timesteps, image.block_steps)
    inputs, wpi = int(np.prod(layer.out_shape)), words_per_input(size)
    words = np.stack([np.frombuffer(data, "<u4", count=blocks * inputs * wpi,
                                    offset=reg.output_spikes + b * reg.output_sample_bytes)
                      for b in range(net.batch)]).reshape(net.batch * blocks, inputs, wpi)
    spikes = unpack_spikes(words, size, layer.out_shape)
    spikes = spikes.reshape(net.batch, blocks * size, *layer.out_shape)
    return spikes[:, :net.timesteps]


def read_layer_tags(image, k, data=None, blocks=False):
    """Layer ``k``'s output SP-MB tags as the accelerator wrote them: bool ``[B, n]``; with
    ``blocks`` (time blocks), each block's: bool ``[B, blocks, n]``."""
    data = image.data if data is None else data
    reg, net = image.layers[k], image.net
    group = output_group(net, k)
    n = -(-int(np.prod(net.layers[k].out_shape)) // group)
    count = time_blocks(net.timesteps, image.block_steps)[1] if blocks else 0
    offset = words_per_input(n) if count > 1 else 0
    words = np.stack([np.frombuffer(data, "<u4", count=words_per_input(n) * max(1, count),
                                    offset=reg.output_tags + b * reg.output_tag_sample_bytes
                                    + 4 * offset)
                      for b in range(net.batch)]).reshape(net.batch, max(1, count), -1)
    bits = (words[..., None].astype(np.uint64) >> np.arange(32, dtype=np.uint64)) & 1
    bits = bits.reshape(net.batch, max(1, count), -1)[:, :, :n].astype(bool)
    return bits if blocks else bits[:, 0]


def write_memh(path, data, word_bytes=4):
    """Write bytes as little-endian words of ``word_bytes`` (a DRAM beat: 4 to 64), one hex
    word a line (``$readmemh``)."""
    data = bytes(data) + b"\0" * (-len(data) % word_bytes)
    words = np.frombuffer(data, "<u4").reshape(-1, word_bytes // 4)[:, ::-1]
    with open(path, "w") as file:
        file.writelines("".join(f"{w:08x}" for w in row) + "\n" for row in words)


def read_memh(path, length=None, word_bytes=4):
    """Bytes of a ``$writememh`` file of little-endian words of ``word_bytes`` (comment lines
    skipped), cut to ``length``.

    A word with unknown bits (``x`` or ``z``: the simulator could not say what the
    accelerator wrote) raises :class:`SpikexError` naming the file and the byte address.
    """
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("//")]
    data = bytearray()
    for index, line in enumerate(lines):
        try:
            data += int(line, 16).to_bytes(word_bytes, "little")
        except ValueError:
            if length is not None and word_bytes * index >= length:
                break
            raise SpikexError(f"{path}: the simulated DRAM holds unknown bits ({line!r}) at byte "
                              f"{word_bytes * index:#x}: the simulation wrote X or Z there") from None
    return data[:length]
