// The C++ main of whole-network runs under Verilator (sim/rtl.py): it only toggles the
// clock of spikex_sim (tb/spikex_host.v), whose Verilog host programs the accelerator,
// waits for it and writes the result, until the host ends the simulation. Plusargs pass
// through to the host and the DRAM model.
#include <memory>

#include "Vspikex_sim.h"
#include "verilated.h"

int main(int argc, char** argv) {
    const auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    const auto sim = std::make_unique<Vspikex_sim>(context.get());
    sim->clk = 0;
    sim->eval();
    while (!context->gotFinish()) {
        sim->clk = 1;
        sim->eval();
        sim->clk = 0;
        sim->eval();
    }
    sim->final();
    return 0;
}
