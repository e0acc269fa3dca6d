// Raw Verilator loop over the tile's host port, without cocotb or Python: the reference the
// cocotb harness's simulation speed is compared with (make bench).
//
// usage: raw_tile JOBFILE
// JOBFILE lines: "w ADDR HEX" (a host write), "start", "read ADDR" (print the word).
// The job runs CLEAR first; after "start" the loop clocks the model until busy falls and
// prints "cycles N seconds S" (N from the tile's cycle register, S the loop's wall time).
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
            host_write(0, "1");
            auto t0 = std::chrono::steady_clock::now();
            uint64_t before = ticks;
            wait_idle();
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::string cycles = host_read(1);
            std::cout << "cycles " << std::stoull(cycles, nullptr, 16) << " ticks "
                      << ticks - before << " seconds " << seconds << "\n";
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
