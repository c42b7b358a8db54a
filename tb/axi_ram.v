// A simulation-only AXI4 slave memory: the DRAM behind the accelerator's m_axi port when
// whole networks run in RTL simulation (sim/rtl.py). It is loaded from a $readmemh file
// named by the plusarg +spikex_image=PATH and dumped with $writememh to +spikex_dump=PATH
// (the first +spikex_dump_words=N words) on a rising edge of `dump`, so no Python runs per
// cycle. INCR bursts only (what the accelerator issues), one outstanding read and one
// outstanding write, always ready: the random back-pressure tests use cocotbext-axi's
// AxiRam instead (tb/test_top.py).
`default_nettype none

module spikex_axi_ram #(
    parameter DATA_WIDTH = 32,
    parameter ADDR_WIDTH = 32,
    parameter ID_WIDTH = 1,
    parameter WORDS = 1 << 20
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    dump,

    input  wire [ID_WIDTH-1:0]     s_axi_awid,
    input  wire [ADDR_WIDTH-1:0]   s_axi_awaddr,
    input  wire [7:0]              s_axi_awlen,
    input  wire [2:0]              s_axi_awsize,
    input  wire [1:0]              s_axi_awburst,
    input  wire                    s_axi_awvalid,
    output wire                    s_axi_awready,
    input  wire [DATA_WIDTH-1:0]   s_axi_wdata,
    input  wire [DATA_WIDTH/8-1:0] s_axi_wstrb,
    input  wire                    s_axi_wlast,
    input  wire                    s_axi_wvalid,
    output wire                    s_axi_wready,
    output reg  [ID_WIDTH-1:0]     s_axi_bid,
    output wire [1:0]              s_axi_bresp,
    output reg                     s_axi_bvalid,
    input  wire                    s_axi_bready,

    input  wire [ID_WIDTH-1:0]     s_axi_arid,
    input  wire [ADDR_WIDTH-1:0]   s_axi_araddr,
    input  wire [7:0]              s_axi_arlen,
    input  wire [2:0]              s_axi_arsize,
    input  wire [1:0]              s_axi_arburst,
    input  wire                    s_axi_arvalid,
    output wire                    s_axi_arready,
    output reg  [ID_WIDTH-1:0]     s_axi_rid,
    output wire [DATA_WIDTH-1:0]   s_axi_rdata,
    output wire [1:0]              s_axi_rresp,
    output wire                    s_axi_rlast,
    output reg                     s_axi_rvalid,
    input  wire                    s_axi_rready
);
    localparam BYTES = DATA_WIDTH / 8;
    localparam SHIFT = $clog2(BYTES);

    reg [DATA_WIDTH-1:0] mem [0:WORDS-1];

    reg [1023:0] image_path, dump_path;
    integer dump_words;
    initial begin
        if ($value$plusargs("spikex_image=%s", image_path))
            $readmemh(image_path, mem);
        if (!$value$plusargs("spikex_dump_words=%d", dump_words))
            dump_words = WORDS;
    end
    always @(posedge dump) begin
        if ($value$plusargs("spikex_dump=%s", dump_path))
            $writememh(dump_path, mem, 0, dump_words - 1);
    end

    // Write channel: accept an address, then its beats, then answer B.
    reg        writing;
    reg [ADDR_WIDTH-1:0] waddr;
    integer i;
    assign s_axi_awready = !writing && !s_axi_bvalid;
    assign s_axi_wready  = writing;
    assign s_axi_bresp   = 2'b00;
    always @(posedge clk) begin
        if (rst) begin
            writing <= 1'b0;
            s_axi_bvalid <= 1'b0;
        end else begin
            if (s_axi_awvalid && s_axi_awready) begin
                writing <= 1'b1;
                waddr <= s_axi_awaddr;
                s_axi_bid <= s_axi_awid;
            end
            if (s_axi_wvalid && s_axi_wready) begin
                for (i = 0; i < BYTES; i = i + 1)
                    if (s_axi_wstrb[i])
                        mem[waddr >> SHIFT][8*i +: 8] <= s_axi_wdata[8*i +: 8];
                waddr <= waddr + BYTES;
                if (s_axi_wlast) begin
                    writing <= 1'b0;
                    s_axi_bvalid <= 1'b1;
                end
            end
            if (s_axi_bvalid && s_axi_bready)
                s_axi_bvalid <= 1'b0;
        end
    end

    // Read channel: accept an address, then return arlen + 1 beats.
    reg [ADDR_WIDTH-1:0] raddr;
    reg [7:0]            rleft;
    assign s_axi_arready = !s_axi_rvalid;
    assign s_axi_rdata   = mem[raddr >> SHIFT];
    assign s_axi_rresp   = 2'b00;
    assign s_axi_rlast   = rleft == 0;
    always @(posedge clk) begin
        if (rst) begin
            s_axi_rvalid <= 1'b0;
        end else if (s_axi_arvalid && s_axi_arready) begin
            s_axi_rvalid <= 1'b1;
            raddr <= s_axi_araddr;
            rleft <= s_axi_arlen;
            s_axi_rid <= s_axi_arid;
        end else if (s_axi_rvalid && s_axi_rready) begin
            raddr <= raddr + BYTES;
            if (rleft == 0)
                s_axi_rvalid <= 1'b0;
            else
                rleft <= rleft - 1;
        end
    end
endmodule

`default_nettype wire
