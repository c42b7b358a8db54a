"""The DRAM arbiter: the accelerator's clients on its one AXI4 master (docs/accelerator.md).

The controller, the weight loader and the input loader read DRAM; the output writer writes
it. :class:`DramArbiter` holds the :class:`~hw.axi.AxiDramPort` and
gives each client its own request and data streams, so that no client drives the port's
registers and none can take another's data.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.axi import AxiDramPort, AxiSignature, dram_request_layout


__all__ = ["DramArbiter", "DramReadSignature", "DramWriteSignature"]


class DramReadSignature(wiring.Signature):
    """A read client, seen from the client: a request stream out, its data stream in."""

    def __init__(self, *, data_width=32, addr_width=32, length_width=24):
        super().__init__({
            "request": Out(stream.Signature(dram_request_layout(addr_width, length_width))),
            "data": In(stream.Signature(data_width)),
        })


class DramWriteSignature(wiring.Signature):
    """A write client, seen from the client: a request stream and its data stream out."""

    def __init__(self, *, data_width=32, addr_width=32, length_width=24):
        super().__init__({
            "request": Out(stream.Signature(dram_request_layout(addr_width, length_width))),
            "data": Out(stream.Signature(data_width)),
        })


class DramArbiter(wiring.Component):
    """The DRAM port shared by ``readers`` read clients and ``writers`` write clients.

    Each direction has one request register in front of the port's engine, which takes a
    request only when the previous one has finished. A client's request is taken into the
    register (``request.ready``) when it is empty or being emptied, the lowest-numbered
    client first; the port answers it from the next cycle, as it would a request written
    into its register directly. Read data goes to the client whose request the reader
    took; write data comes from the client whose request the writer took, once that
    request has left the register. So data cannot reach the wrong client whatever the
    clients do, and a client that asks while another's request waits is held, not lost.

    Parameters
    ----------
    readers, writers : int
        Read and write clients (index 0 has the highest priority).
    data_width, addr_width, length_width, counter_width : int
        As for :class:`~hw.axi.AxiDramPort`.
    word_width : int
        The clients' words (default ``data_width``); a narrower word than the bus's beat
        is taken out of (put into) its beat by the port (:class:`~hw.axi.AxiDramPort`).

    Ports
    -----
    m_axi : Out(AxiSignature(addr_width=addr_width, data_width=data_width))
    read : In(DramReadSignature(...)).array(readers)
    write : In(DramWriteSignature(...)).array(writers)
    abort : In(1)
        From the cycle after it rises to the cycle after it falls (it is registered, so
        that no client's ``valid`` or ``ready`` waits on the route from where it is made),
        read data is taken and dropped and write data is zeros, whatever the owner: a
        stopped run finishes the transfers in flight.
    busy : Out(1)
        A request waits in a register or either engine is busy.
    write_busy : Out(1)
        A write request waits or the writer is busy (data or its response outstanding).
    bytes_read, bytes_written : Out(counter_width)
        Bytes moved at the port.

    Latency: a request taken in cycle ``n`` is at the port in cycle ``n + 1``; data passes
    through without a register; ``abort`` acts a cycle later.
    """

    def __init__(self, *, readers, writers, data_width=32, addr_width=32, length_width=24,
                 counter_width=32, word_width=None):
        if readers < 1 or writers < 1:
            raise ValueError(f"an arbiter needs a reader and a writer, not {readers!r} and "
                             f"{writers!r}")
        word_width = data_width if word_width is None else word_width
        self._port = dict(data_width=data_width, addr_width=addr_width,
                          length_width=length_width, counter_width=counter_width,
                          word_width=word_width)
        client = dict(data_width=word_width, addr_width=addr_width, length_width=length_width)
        super().__init__({
            "m_axi": Out(AxiSignature(addr_width=addr_width, data_width=data_width)),
            "read": In(DramReadSignature(**client)).array(readers),
            "write": In(DramWriteSignature(**client)).array(writers),
            "abort": In(1),
            "busy": Out(1),
            "write_busy": Out(1),
            "bytes_read": Out(counter_width),
            "bytes_written": Out(counter_width),
        })

    @staticmethod
    def _requests(m, clients, register, name):
        """Take the highest-priority client's request into ``register``; return the index of
        the client whose request is in it."""
        pending = Signal(range(len(clients)), name=f"{name}_pending")
        free = ~register.valid | register.ready
        taken = Const(0, 1)
        for client in clients:
            m.d.comb += client.request.ready.eq(free & ~taken)
            taken = taken | client.request.valid
        # Whenever the register is free it takes the first asking client's request (the
        # last client's, not valid, when none asks), so that the payload's and the owner's
        # clock enable wait on no client's ``valid``: only ``register.valid`` does.
        payload, index = clients[-1].request.payload, len(clients) - 1
        for i in reversed(range(len(clients) - 1)):
            asks = clients[i].request.valid
            payload = Mux(asks, clients[i].request.payload, payload)
            index = Mux(asks, i, index)
        with m.If(free):
            m.d.sync += [register.valid.eq(taken), register.payload.eq(payload),
                         pending.eq(index)]
        return pending

    def elaborate(self, platform):
        m = Module()
        m.submodules.port = port = AxiDramPort(**self._port)
        wiring.connect(m, port.m_axi, wiring.flipped(self.m_axi))
        abort = Signal()
        m.d.sync += abort.eq(self.abort)

        # Reads: data to the owner of the request the reader took.
        request = port.read_request
        pending = self._requests(m, self.read, request, "read")
        owner = Signal.like(pending, name="read_owner")
        with m.If(request.valid & request.ready):
            m.d.sync += owner.eq(pending)
        ready = Signal()
        for i, client in enumerate(self.read):
            mine = (owner == i) & ~abort
            m.d.comb += [client.data.payload.eq(port.read_data.payload),
                         client.data.valid.eq(port.read_data.valid & mine)]
            with m.If(mine):
                m.d.comb += ready.eq(client.data.ready)
        m.d.comb += port.read_data.ready.eq(ready | abort)

        # Writes: data from the owner of the request the writer took.
        request = port.write_request
        pending = self._requests(m, self.write, request, "write")
        owner = Signal.like(pending, name="write_owner")
        with m.If(request.valid & request.ready):
            m.d.sync += owner.eq(pending)
        data = port.write_data
        for i, client in enumerate(self.write):
            mine = (owner == i) & ~request.valid & ~abort
            m.d.comb += client.data.ready.eq(data.ready & mine)
            with m.If(mine):
                m.d.comb += [data.valid.eq(client.data.valid), data.payload.eq(client.data.payload)]
        with m.If(abort):
            m.d.comb += [data.valid.eq(1), data.payload.eq(0)]

        m.d.comb += [
            self.busy.eq(port.busy | port.read_request.valid | port.write_request.valid),
            self.write_busy.eq(port.write_busy | port.write_request.valid),
            self.bytes_read.eq(port.bytes_read),
            self.bytes_written.eq(port.bytes_written),
        ]
        return m
