// The host of whole-network RTL runs (sim/rtl.py, `spikex run --backend verilator|icarus`),
// in Verilog, so that nothing outside the simulator runs while the accelerator computes.
//
// spikex_host plays the CPU of an FPGA design, as tb/run_top.py does under cocotb: it
// holds the accelerator in reset for four cycles, writes the image address and the
// dataflow to the accelerator's AXI4-Lite registers, starts it, waits for irq_done (every
// PROGRESS cycles it reads the LAYER register and prints "progress <layers completed>"),
// reads STATUS, ERROR_CODE and, after a run that ended without error, every per-layer
// counter register; it writes them as JSON to +spikex_result=PATH, has the DRAM model
// dump its contents (tb/axi_ram.v: +spikex_dump=PATH) and ends the simulation.
//
// Its plusargs (decimal numbers): +spikex_base= (the image's DRAM address, default 0),
// +spikex_dataflow= (0 SpikeX, 1 PTB; default 0), +spikex_layers=, +spikex_counters=
// (counters per layer), +spikex_timeout= (accelerator cycles), +spikex_result=PATH,
// +spikex_progress= (cycles between progress reads; 0 or missing: none), and the register
// map, +spikex_reg_control=, _status=, _error_code=, _descriptor=, _dataflow=, _layer= and
// _counters= (byte offsets, from hw/axi.py by sim/rtl.py).
//
// spikex_sim is the accelerator, the DRAM model and the host: under Verilator its one
// input is the clock, which the C++ main (tb/verilator_main.cpp) toggles; elsewhere it has
// no ports and makes its own 100 MHz clock.
`default_nettype none

module spikex_host (
    input  wire        clk,
    output reg         rst,
    output reg         dump,
    input  wire        irq_done,
    output reg  [15:0] s_axil_awaddr,
    output reg         s_axil_awvalid,
    input  wire        s_axil_awready,
    output reg  [31:0] s_axil_wdata,
    output wire [3:0]  s_axil_wstrb,
    output reg         s_axil_wvalid,
    input  wire        s_axil_wready,
    input  wire [1:0]  s_axil_bresp,
    input  wire        s_axil_bvalid,
    output reg         s_axil_bready,
    output reg  [15:0] s_axil_araddr,
    output reg         s_axil_arvalid,
    input  wire        s_axil_arready,
    input  wire [31:0] s_axil_rdata,
    input  wire [1:0]  s_axil_rresp,
    input  wire        s_axil_rvalid,
    output reg         s_axil_rready
);
    // Run parameters and the register map (hw/axi.py, passed by sim/rtl.py) from the plusargs.
    reg [63:0] base, dataflow, layers, per_layer, timeout, progress;
    reg [15:0] REG_CONTROL, REG_STATUS, REG_ERROR_CODE, REG_DESCRIPTOR, REG_DATAFLOW,
               REG_LAYER, REG_COUNTERS;
    reg [8*1024-1:0] result_path;
    integer result_file;
    initial begin
        if (!($value$plusargs("spikex_reg_control=%d", REG_CONTROL)
              && $value$plusargs("spikex_reg_status=%d", REG_STATUS)
              && $value$plusargs("spikex_reg_error_code=%d", REG_ERROR_CODE)
              && $value$plusargs("spikex_reg_descriptor=%d", REG_DESCRIPTOR)
              && $value$plusargs("spikex_reg_dataflow=%d", REG_DATAFLOW)
              && $value$plusargs("spikex_reg_layer=%d", REG_LAYER)
              && $value$plusargs("spikex_reg_counters=%d", REG_COUNTERS))) begin
            $display("spikex host: missing a +spikex_reg_<register>=OFFSET"); $finish;
        end
        if (!$value$plusargs("spikex_base=%d", base)) base = 0;
        if (!$value$plusargs("spikex_dataflow=%d", dataflow)) dataflow = 0;
        if (!$value$plusargs("spikex_progress=%d", progress)) progress = 0;
        if (!$value$plusargs("spikex_layers=%d", layers)) begin
            $display("spikex host: missing +spikex_layers=N"); $finish;
        end
        if (!$value$plusargs("spikex_counters=%d", per_layer)) begin
            $display("spikex host: missing +spikex_counters=N"); $finish;
        end
        if (!$value$plusargs("spikex_timeout=%d", timeout)) begin
            $display("spikex host: missing +spikex_timeout=N"); $finish;
        end
        if (!$value$plusargs("spikex_result=%s", result_path)) begin
            $display("spikex host: missing +spikex_result=PATH"); $finish;
        end
    end

    // The program: the steps of the run, each one bus transaction but RUN and DUMP.
    localparam [3:0] P_RESET = 0, P_BASE = 1, P_DATAFLOW = 2, P_START = 3, P_RUN = 4,
                     P_LAYER = 5, P_STATUS = 6, P_ERROR_CODE = 7, P_COUNTER = 8,
                     P_DUMP = 9, P_END = 10;
    // The bus: idle, or a write's address and data, its response, a read's address, its data.
    localparam [2:0] B_IDLE = 0, B_AW_W = 1, B_B = 2, B_AR = 3, B_R = 4;

    reg [3:0]  step;
    reg [2:0]  bus;
    reg [63:0] cycle, started, next_report, run_cycles, words, low;
    reg [31:0] status, error_code, rdata;
    reg        timed_out;

    assign s_axil_wstrb = 4'hF;

    initial begin
        rst = 1'b1;
        dump = 1'b0;
        step = P_RESET;
        bus = B_IDLE;
        cycle = 0;
        timed_out = 1'b0;
        {s_axil_awvalid, s_axil_wvalid, s_axil_bready, s_axil_arvalid, s_axil_rready} = 5'b0;
    end

    task automatic write(input [15:0] address, input [31:0] value);
        begin
            s_axil_awaddr <= address;
            s_axil_wdata <= value;
            s_axil_awvalid <= 1'b1;
            s_axil_wvalid <= 1'b1;
            bus <= B_AW_W;
        end
    endtask

    task automatic read(input [15:0] address);
        begin
            s_axil_araddr <= address;
            s_axil_arvalid <= 1'b1;
            bus <= B_AR;
        end
    endtask

    task automatic fail(input [8*16-1:0] what, input [15:0] address);
        begin
            $display("spikex host: AXI4-Lite %0s at 0x%0h answered an error", what, address);
            $finish;
        end
    endtask

    always @(posedge clk) begin
        cycle <= cycle + 1;
        case (bus)
        B_AW_W: begin
            if (s_axil_awready) s_axil_awvalid <= 1'b0;
            if (s_axil_wready) s_axil_wvalid <= 1'b0;
            if ((s_axil_awready || !s_axil_awvalid) && (s_axil_wready || !s_axil_wvalid)) begin
                s_axil_bready <= 1'b1;
                bus <= B_B;
            end
        end
        B_B:
            if (s_axil_bvalid) begin
                s_axil_bready <= 1'b0;
                if (s_axil_bresp != 0) fail("write", s_axil_awaddr);
                bus <= B_IDLE;
            end
        B_AR:
            if (s_axil_arready) begin
                s_axil_arvalid <= 1'b0;
                s_axil_rready <= 1'b1;
                bus <= B_R;
            end
        B_R:
            if (s_axil_rvalid) begin
                s_axil_rready <= 1'b0;
                if (s_axil_rresp != 0) fail("read", s_axil_araddr);
                rdata <= s_axil_rdata;
                bus <= B_IDLE;
            end
        default: ;
        endcase

        // The next step once the bus is idle (a step's own transaction is done).
        if (bus == B_IDLE) case (step)
        P_RESET:
            if (cycle == 3) begin
                rst <= 1'b0;
                write(REG_DESCRIPTOR, base[31:0]);
                step <= P_BASE;
            end
        P_BASE: begin
            write(REG_DATAFLOW, dataflow[31:0]);
            step <= P_DATAFLOW;
        end
        P_DATAFLOW: begin
            write(REG_CONTROL, 32'd1);
            step <= P_START;
        end
        P_START: begin
            started <= cycle;
            next_report <= cycle + progress;
            step <= P_RUN;
        end
        P_RUN:
            if (irq_done || cycle - started >= timeout) begin
                timed_out <= !irq_done;
                run_cycles <= cycle - started;
                read(REG_STATUS);
                step <= P_STATUS;
            end else if (progress != 0 && cycle >= next_report) begin
                next_report <= cycle + progress;
                read(REG_LAYER);
                step <= P_LAYER;
            end
        P_LAYER: begin
            $display("progress %0d", rdata);
            $fflush;
            step <= P_RUN;
        end
        P_STATUS: begin
            status <= rdata;
            read(REG_ERROR_CODE);
            step <= P_ERROR_CODE;
        end
        P_ERROR_CODE: begin
            error_code <= rdata;
            result_file = $fopen(result_path, "w");
            if (result_file == 0) begin
                $display("spikex host: cannot write %0s", result_path);
                $finish;
            end
            $fwrite(result_file, "{\"status\": %0d, \"error_code\": %0d, ", status, rdata);
            if (timed_out)
                $fwrite(result_file, "\"timed_out\": true, ");
            else
                $fwrite(result_file, "\"timed_out\": false, ");
            $fwrite(result_file, "\"run_cycles\": %0d, \"counters\": [", run_cycles);
            words <= 0;
            if (!timed_out && status[1] && layers * per_layer != 0) begin
                read(REG_COUNTERS);
                step <= P_COUNTER;
            end else
                step <= P_DUMP;
        end
        P_COUNTER: begin
            // Counters are 64 bits, low word first; `words` counts the words read.
            if (!words[0])
                low <= rdata;
            else begin
                if (words[63:1] != 0 && words[63:1] % per_layer == 0)
                    $fwrite(result_file, ", ");
                if (words[63:1] % per_layer == 0)
                    $fwrite(result_file, "[");
                $fwrite(result_file, "%0d", {rdata, low[31:0]});
                if (words[63:1] % per_layer == per_layer - 1)
                    $fwrite(result_file, "]");
                else
                    $fwrite(result_file, ", ");
            end
            if (words + 1 == 2 * layers * per_layer)
                step <= P_DUMP;
            else
                read(REG_COUNTERS + 4 * (words + 1));
            words <= words + 1;
        end
        P_DUMP: begin
            $fwrite(result_file, "]}\n");
            $fclose(result_file);
            dump <= 1'b1;
            started <= cycle;
            step <= P_END;
        end
        P_END:
            if (cycle - started == 2)
                $finish;
        default: ;
        endcase
    end
endmodule


module spikex_sim #(
    parameter RAM_WORDS = 1 << 22,
    parameter DATA_WIDTH = 32           // the DRAM bus; RAM_WORDS are words of it
)
`ifdef VERILATOR
    (input wire clk);               // toggled by tb/verilator_main.cpp
`else
    ;
    reg clk = 1'b0;                 // 100 MHz, for event simulators (Icarus)
    always #5 clk = !clk;
`endif
    wire rst, dump, irq_done;
    wire [15:0] awaddr, araddr;
    wire [31:0] wdata, rdata;
    wire [3:0] wstrb;
    wire [1:0] bresp, rresp;
    wire awvalid, awready, wvalid, wready, bvalid, bready, arvalid, arready, rvalid, rready;

    spikex_host host (
        .clk(clk), .rst(rst), .dump(dump), .irq_done(irq_done),
        .s_axil_awaddr(awaddr), .s_axil_awvalid(awvalid), .s_axil_awready(awready),
        .s_axil_wdata(wdata), .s_axil_wstrb(wstrb), .s_axil_wvalid(wvalid), .s_axil_wready(wready),
        .s_axil_bresp(bresp), .s_axil_bvalid(bvalid), .s_axil_bready(bready),
        .s_axil_araddr(araddr), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
        .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(rready)
    );

    spikex_tb #(.RAM_WORDS(RAM_WORDS), .DATA_WIDTH(DATA_WIDTH)) tb (
        .clk(clk), .rst(rst), .dump(dump), .irq_done(irq_done),
        .s_axil_awaddr(awaddr), .s_axil_awvalid(awvalid), .s_axil_awready(awready),
        .s_axil_wdata(wdata), .s_axil_wstrb(wstrb), .s_axil_wvalid(wvalid), .s_axil_wready(wready),
        .s_axil_bresp(bresp), .s_axil_bvalid(bvalid), .s_axil_bready(bready),
        .s_axil_araddr(araddr), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
        .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(rready)
    );
endmodule


`default_nettype wire
