// Driver of the kernel emulation test: runs the cases tests/kernel_emulation.rs writes (one
// safetensors file per case: buffers, launches, expected outputs computed by the Rust CPU twins,
// tolerances; case.rs describes the format) on the emulator of emu.h, where kernels/*.cu compile
// unchanged as host C++. It knows nothing about what a kernel computes: it allocates a guarded
// buffer per `buf.*` tensor, runs each launch through the entry point registered under its name
// (registry.h, kernels_*.cpp), and compares every `expect.*` tensor with its tolerance.
// tests/kernel_emulation.rs builds and runs it; by hand, after one `cargo test --test
// kernel_emulation` has written the cases:
//   c++ -O2 -std=c++17 -ffp-contract=off -fno-strict-aliasing -Wno-unknown-pragmas
//       -Itests/kernel_emulation -Ikernels tests/kernel_emulation/*.cpp -o /tmp/kernel_emulation
//   /tmp/kernel_emulation target/tmp/kernel_emulation/cases [NAME-PART...]   (only matching files)
//
// Every case runs once per schedule (emu::Schedule), each schedule in its own child process so
// they run in parallel and a crash (a guard page hit) is confined to one. A case passes when
// all its comparisons are within tolerance under every schedule and every schedule produced
// bit-identical outputs. One line per case; the exit status is 1 if any case failed.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include "harness.h"
#include "registry.h"
#include "safetensors.h"

namespace {

// One case under one schedule, as a child reports it.
struct Outcome {
    std::string kernel, config, tolerance;
    double max_err = 0, worst = 0;
    long checked = 0, near_checked = 0, failed = 0;
    std::string hash, notes, faults;  // faults: what the emulator or a buffer guard detected
};

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\t' || c == '\n') c = ' ';
    return s;
}

// Element i of a float tensor or buffer as a double.
double float_at(const std::string& dtype, const unsigned char* p, size_t i) {
    if (dtype == "F16") {
        __half h;
        memcpy(&h, p + 2 * i, 2);
        return __half2float(h);
    }
    if (dtype == "F32") {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    double d;
    memcpy(&d, p + 8 * i, 8);
    return d;
}

bool is_float(const std::string& dtype) { return dtype == "F16" || dtype == "F32" || dtype == "F64"; }

// Buffer `name` after the launches against `expect.<name>`: bit for bit when the expectation
// has the buffer's dtype, else within `tol.<name>` (one value, or one per element).
void compare(const std::string& name, const TensorData& want, const TensorData* tol, const BufferView* got,
             Check& check) {
    if (!got) return check.fail("expect.%s names no buffer", name.c_str());
    const size_t size = dtype_size(got->dtype), n = got->bytes / size;
    if (want.elements != n)
        return check.fail("expect.%s has %zu elements, buffer %s %zu", name.c_str(), want.elements, name.c_str(), n);
    if (want.dtype == got->dtype) {
        for (size_t i = 0; i < n; ++i)
            check.exact(got->data + i * size, want.data + i * size, got->dtype, size, name, i);
        return;
    }
    if (!is_float(want.dtype) || !is_float(got->dtype))
        return check.fail("expect.%s is %s, buffer %s is %s", name.c_str(), want.dtype.c_str(), name.c_str(),
                          got->dtype.c_str());
    if (!tol || !is_float(tol->dtype) || (tol->elements != 1 && tol->elements != n))
        return check.fail("tol.%s is missing, or neither one value nor one per element", name.c_str());
    for (size_t i = 0; i < n; ++i)
        check.near(float_at(got->dtype, got->data, i), float_at(want.dtype, want.data, i),
                   float_at(tol->dtype, tol->data, tol->elements == 1 ? 0 : i), name, i);
}

LaunchArg launch_arg(const Json& a) {
    LaunchArg arg;
    if (const Json* buf = a.find("buf")) {
        arg.kind = LaunchArg::Kind::Buffer;
        arg.buffer = buf->string();
        arg.offset = size_t(a.at("offset").unsigned_integer());
    } else if (a.find("null")) {
        arg.kind = LaunchArg::Kind::Null;
    } else if (const Json* v = a.find("i32")) {
        arg.kind = LaunchArg::Kind::I32;
        arg.i32 = int32_t(v->integer());
    } else {
        arg.kind = LaunchArg::Kind::F32;
        arg.f32_bits = uint32_t(a.at("f32_bits").unsigned_integer());
    }
    return arg;
}

// Runs one case under the current schedule: fresh guarded buffers with the initial contents,
// the launches in order, then the comparisons. The buffers are freed (and their canaries
// checked) before it returns.
void run_case(const SafeTensors& file, Check& check) {
    std::vector<std::unique_ptr<DevBuf>> owned;
    Buffers buffers;
    for (const auto& [name, t] : file.tensors()) {
        if (name.rfind("buf.", 0) != 0) continue;
        owned.push_back(std::make_unique<DevBuf>(t.bytes));
        memcpy(owned.back()->p(), t.data, t.bytes);
        buffers[name.substr(4)] = BufferView{t.dtype, owned.back()->p(), t.bytes};
    }
    for (const Json& launch : Json::parse(file.metadata("launches")).items) {
        const std::string& kernel = launch.at("kernel").string();
        const auto entry = entry_points().find(kernel);
        if (entry == entry_points().end())
            return check.fail("no entry point %s registered (tests/kernel_emulation/kernels_*.cpp)", kernel.c_str());
        const std::vector<Json>& g = launch.at("grid").items;
        if (g.size() != 3) return check.fail("%s: the grid is not three numbers", kernel.c_str());
        const dim3 grid{unsigned(g[0].unsigned_integer()), unsigned(g[1].unsigned_integer()),
                        unsigned(g[2].unsigned_integer())};
        std::vector<LaunchArg> args;
        for (const Json& a : launch.at("args").items) args.push_back(launch_arg(a));
        const std::string problem = entry->second(args, buffers, grid, unsigned(launch.at("block").unsigned_integer()));
        if (!problem.empty()) return check.fail("%s: %s", kernel.c_str(), problem.c_str());
    }
    for (const auto& [name, want] : file.tensors()) {
        if (name.rfind("expect.", 0) != 0) continue;
        const std::string buffer = name.substr(7);
        const auto got = buffers.find(buffer);
        compare(buffer, want, file.find("tol." + buffer), got == buffers.end() ? nullptr : &got->second, check);
    }
}

// Child side: runs every case under one schedule and writes a line before ("B") and after ("R")
// each, flushed, so the parent can name the case a crash happened in.
void run_schedule(FILE* out, int schedule, const std::vector<std::string>& files) {
    for (const std::string& path : files) {
        Check c;
        std::string kernel = path.substr(path.rfind('/') + 1), config, tolerance;
        std::unique_ptr<SafeTensors> file;
        try {
            file = std::make_unique<SafeTensors>(path);
            kernel = file->metadata("kernel");
            config = file->metadata("config");
            tolerance = file->metadata("tolerance");
        } catch (const std::exception& e) {
            c.fail("unreadable case file: %s", e.what());
        }
        fprintf(out, "B\t%s\t%s\n", one_line(kernel).c_str(), one_line(config).c_str());
        fflush(out);
        // Seeded per case, so a case behaves the same whichever others run.
        emu::reset(emu::Schedule(schedule), fnv1a(kernel + "/" + config) + schedule);
        if (file) {
            try {
                run_case(*file, c);
            } catch (const std::exception& e) {
                c.fail("bad case file: %s", e.what());
            }
        }
        fprintf(out, "R\t%s\t%s\t%s\t%.17g\t%.17g\t%ld\t%ld\t%ld\t%016llx\t%s\t%s\n", one_line(kernel).c_str(),
                one_line(config).c_str(), one_line(tolerance).c_str(), c.max_err, c.worst, c.checked,
                c.near_checked, c.failed, (unsigned long long)c.hash, one_line(c.notes).c_str(),
                one_line(emu::take_faults()).c_str());
        fflush(out);
    }
}

struct ScheduleRun {
    std::vector<Outcome> outcomes;
    std::string death;                   // how the child died, if it did
    std::string dead_kernel, dead_config;  // the case it was in (empty: between cases)
};

ScheduleRun read_run(FILE* f, int status) {
    ScheduleRun run;
    rewind(f);
    std::string begun_kernel, begun_config;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        std::vector<std::string> field;
        std::stringstream ss(std::string(line, strcspn(line, "\n")));
        for (std::string s; std::getline(ss, s, '\t');) field.push_back(s);
        field.resize(12);
        if (field[0] == "B") {
            begun_kernel = field[1];
            begun_config = field[2];
        } else {
            run.outcomes.push_back({field[1], field[2], field[3], atof(field[4].c_str()), atof(field[5].c_str()),
                                    atol(field[6].c_str()), atol(field[7].c_str()), atol(field[8].c_str()),
                                    field[9], field[10], field[11]});
            begun_kernel.clear();
            begun_config.clear();
        }
    }
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        run.death = fmt("killed by signal %d (%s%s)", sig, strsignal(sig),
                        sig == SIGSEGV || sig == SIGBUS ? ": an access outside a buffer hit a guard page?"
                        : sig == SIGALRM                ? ": the run took over 300 s"
                                                        : "");
    } else if (WEXITSTATUS(status) != 0) {
        run.death = fmt("exited with status %d", WEXITSTATUS(status));
    }
    if (!run.death.empty()) {
        run.dead_kernel = begun_kernel.empty() ? "(between cases)" : begun_kernel;
        run.dead_config = begun_config;
    }
    return run;
}

// The case files of `dir` (sorted), keeping those whose name contains one of `parts` (if any).
std::vector<std::string> case_files(const std::string& dir, const std::vector<std::string>& parts) {
    std::vector<std::string> files;
    DIR* d = opendir(dir.c_str());
    if (!d) return files;
    while (const dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        const bool wanted = parts.empty() || std::any_of(parts.begin(), parts.end(), [&](const std::string& p) {
                                return name.find(p) != std::string::npos;
                            });
        if (wanted && name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0)
            files.push_back(dir + "/" + name);
    }
    closedir(d);
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> files =
        argc > 1 ? case_files(argv[1], {argv + 2, argv + argc}) : std::vector<std::string>{};
    if (files.empty()) {
        fprintf(stderr, "usage: %s CASE_DIR [NAME-PART...] (case files, as tests/kernel_emulation.rs writes)\n",
                argv[0]);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    fflush(stdout);
    FILE* outputs[emu::kSchedules];
    pid_t pids[emu::kSchedules];
    for (int s = 0; s < emu::kSchedules; ++s) {
        outputs[s] = tmpfile();
        pids[s] = outputs[s] ? fork() : -1;
        if (pids[s] < 0) {
            perror("kernel_emulation: tmpfile/fork");
            return 2;
        }
        if (pids[s] == 0) {
            alarm(300);  // a kernel that never finishes ends the child (SIGALRM), reported like a crash
            run_schedule(outputs[s], s, files);
            _exit(0);
        }
    }
    std::vector<ScheduleRun> runs;
    for (int s = 0; s < emu::kSchedules; ++s) {
        int status = 0;
        waitpid(pids[s], &status, 0);
        runs.push_back(read_run(outputs[s], status));
    }

    printf("Kernel emulation (tests/kernel_emulation): %zu case files, each run under %d schedules (", files.size(),
           emu::kSchedules);
    for (int s = 0; s < emu::kSchedules; ++s) printf("%s%s", s ? ", " : "", emu::schedule_name(emu::Schedule(s)));
    printf(");\nPASS = every comparison with the Rust CPU twins within tolerance under all of them, and bit-identical\n"
           "outputs across them.\n");
    printf("%-34s %-72s %-20s %-38s %s\n", "kernel", "configuration", "max |err| (of tol)", "tolerance", "result");
    size_t cases = 0;  // a case a child died in counts as one more
    for (const ScheduleRun& r : runs) cases = std::max(cases, r.outcomes.size() + !r.death.empty());
    int failures = 0;
    for (size_t i = 0; i < cases; ++i) {
        const Outcome* first = nullptr;
        int first_schedule = 0;
        std::string why, kernel, config;
        for (int s = 0; s < emu::kSchedules; ++s) {
            const ScheduleRun& r = runs[s];
            const char* name = emu::schedule_name(emu::Schedule(s));
            if (i >= r.outcomes.size()) {
                if (i > r.outcomes.size() || r.death.empty()) {
                    why += fmt(" not run under %s;", name);
                } else {
                    why += fmt(" under %s, %s;", name, r.death.c_str());
                    kernel = r.dead_kernel;
                    config = r.dead_config;
                }
                continue;
            }
            const Outcome& o = r.outcomes[i];
            if (!first) {
                first = &o;
                first_schedule = s;
            } else if (o.hash != first->hash) {
                why += fmt(" output under %s differs from %s (order-dependent: a race);", name,
                           emu::schedule_name(emu::Schedule(first_schedule)));
            }
            if (!o.faults.empty()) why += fmt(" under %s the emulator found: %s;", name, o.faults.c_str());
            if (o.failed > 0 && o.checked == 0)  // the case could not run
                why += fmt(" under %s: %s;", name, o.notes.c_str());
            else if (o.failed > 0)
                why += fmt(" %ld of %ld checks failed under %s: %s;", o.failed, o.checked, name, o.notes.c_str());
        }
        if (!first) {  // every schedule died here
            printf("%-34s %-72s %-20s %-38s FAIL:%s\n", kernel.c_str(), config.c_str(), "", "", why.c_str());
            ++failures;
            continue;
        }
        const std::string err = first->near_checked == 0 ? "exact" : fmt("%.2e (%.2f)", first->max_err, first->worst);
        failures += !why.empty();
        printf("%-34s %-72s %-20s %-38s %s%s\n", first->kernel.c_str(), first->config.c_str(), err.c_str(),
               first->tolerance.c_str(), why.empty() ? "PASS" : "FAIL:", why.c_str());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    printf("%zu cases × %d schedules in %.1f s: %zu passed, %d failed\n", cases, emu::kSchedules, secs,
           cases - failures, failures);
    return failures ? 1 : 0;
}
