// Raw Verilator loop over the tile's host port, without cocotb or Python: the model's own speed
// (make bench) and the reference the cocotb harness's speed is compared with.
//
// usage: raw_tile JOBFILE
// JOBFILE lines: "w ADDR HEX" (a host write), "start [RUNS]", "read ADDR" (print the word).
// The job runs CLEAR first. "start" runs the loaded program RUNS times (default 1): for each,
// it writes START and polls the status register until the tile reports RUNNING (START has
// taken effect), then clocks the model with no host traffic until busy falls. Only that
// window is timed. It prints "cycles N ticks T wait W seconds S runs R": N the tile's cycle
// register after the last run, T the clock ticks inside the windows of all runs, W the ticks
// from the START writes to the windows, S the wall time of the windows.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>

#include "Vtile.h"
#include "verilated.h"

static Vtile *top;
static uint64_t ticks = 0;

static void tick() {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
    ++ticks;
}

template <typename T>
static void set_word(T &port, const std::string &hex) {
    if constexpr (std::is_integral_v<std::decay_t<T>>) {
        port = static_cast<std::decay_t<T>>(std::stoull(hex, nullptr, 16));
    } else {
        for (int i = 0; i < static_cast<int>(std::size(port.m_storage)); ++i) port[i] = 0;
        int words = 0;
        for (int end = static_cast<int>(hex.size()); end > 0; end -= 8, ++words) {
            int begin = end > 8 ? end - 8 : 0;
            port[words] = static_cast<uint32_t>(std::stoul(hex.substr(begin, end - begin), nullptr, 16));
        }
    }
}

template <typename T>
static std::string get_word(const T &port) {
    std::ostringstream out;
    if constexpr (std::is_integral_v<std::decay_t<T>>) {
        out << std::hex << static_cast<unsigned long long>(port);
    } else {
        out << std::hex;
        bool lead = true;
        for (int i = static_cast<int>(std::size(port.m_storage)) - 1; i >= 0; --i) {
            if (lead && port[i] == 0 && i) continue;
            if (lead) out << port[i];
            else { out.width(8); out.fill('0'); out << port[i]; }
            lead = false;
        }
    }
    return out.str();
}

static void host_write(uint64_t addr, const std::string &hex) {
    top->host_addr = addr;
    set_word(top->host_wdata, hex);
    top->host_we = 1;
    tick();
    top->host_we = 0;
}

static std::string host_read(uint64_t addr) {
    top->host_addr = addr;
    top->host_re = 1;
    tick();
    top->host_re = 0;
    top->clk = 0;
    top->eval();
    return get_word(top->host_rdata);
}

static void wait_idle() {
    tick();
    while (top->busy) tick();
}

// lpu.sw.hostmap: REG_CTRL, CTRL_START, STATUS_RUNNING.
static const uint64_t REG_CTRL = 0;
static const char *CTRL_START = "1";
static const uint32_t STATUS_RUNNING = 1;

template <typename T>
static uint32_t low_word(const T &port) {
    if constexpr (std::is_integral_v<std::decay_t<T>>) {
        return static_cast<uint32_t>(port);
    } else {
        return port[0];
    }
}

// Write START, then read REG_CTRL every cycle until it shows RUNNING (or busy falls: a run
// too short to catch); return the ticks that took.
static uint64_t start_and_wait_running() {
    uint64_t before = ticks;
    host_write(REG_CTRL, CTRL_START);
    top->host_addr = REG_CTRL;
    top->host_re = 1;
    do {
        tick();
    } while (top->busy && !(low_word(top->host_rdata) & STATUS_RUNNING));
    top->host_re = 0;
    return ticks - before;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: raw_tile JOBFILE\n";
        return 2;
    }
    std::ifstream job(argv[1]);
    if (!job) {
        std::cerr << argv[1] << ": cannot open\n";
        return 2;
    }
    Verilated::commandArgs(argc, argv);
    top = new Vtile;
    top->rst = 1;
    tick();
    tick();
    top->rst = 0;
    host_write(0, "2");  // CLEAR
    wait_idle();
    std::string line;
    while (std::getline(job, line)) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        if (cmd == "w") {
            std::string addr, hex;
            in >> addr >> hex;
            host_write(std::stoull(addr, nullptr, 16), hex);
        } else if (cmd == "start") {
            uint64_t runs = 1, window = 0, wait = 0;
            in >> runs;
            double seconds = 0;
            for (uint64_t run = 0; run < runs; ++run) {
                wait += start_and_wait_running();
                auto t0 = std::chrono::steady_clock::now();
                uint64_t before = ticks;
                while (top->busy) tick();
                std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
                seconds += took.count();
                window += ticks - before;
            }
            std::string cycles = host_read(1);
            std::cout << "cycles " << std::stoull(cycles, nullptr, 16) << " ticks " << window
                      << " wait " << wait << " seconds " << seconds << " runs " << runs << "\n";
        } else if (cmd == "read") {
            std::string addr;
            in >> addr;
            std::cout << "word " << addr << " " << host_read(std::stoull(addr, nullptr, 16)) << "\n";
        }
    }
    top->final();
    delete top;
    return 0;
}
