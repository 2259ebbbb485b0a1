// Driver of the kernel emulation test: every kernel of kernels/*.cu, compiled unchanged as host
// C++ on the emulator of emu.h, against C++ ports of the CPU code it must match (the test_*.cpp
// suites). tests/kernel_emulation.rs builds and runs it; by hand:
//   c++ -O2 -std=c++17 -ffp-contract=off -fno-strict-aliasing -Wno-unknown-pragmas
//       -Itests/kernel_emulation -Ikernels tests/kernel_emulation/*.cpp -o /tmp/kernel_emulation
//   /tmp/kernel_emulation [SUITE...]      (norm linear attention embed sampling hubert; default: all)
//
// Every suite runs once per schedule (emu::Schedule), each schedule in its own child process so
// they run in parallel and a crash (a guard page hit) is confined to one. A case passes when
// all its comparisons are within tolerance under every schedule and every schedule produced
// bit-identical outputs. One line per case; the exit status is 1 if any case failed.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "harness.h"

namespace {

struct Suite {
    const char* name;
    void (*run)(Runner&);
};
const Suite kSuites[] = {{"norm", norm_suite},
                         {"linear", linear_suite},
                         {"attention", attention_suite},
                         {"embed", embed_suite},
                         {"sampling", sampling_suite},
                         {"hubert", hubert_suite}};

// One case under one schedule, as a child reports it.
struct Outcome {
    std::string kernel, config, tolerance;
    double max_err = 0, worst = 0;
    long checked = 0, failed = 0;
    std::string hash, notes, faults;  // faults: what the emulator or a buffer guard detected
};

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\t' || c == '\n') c = ' ';
    return s;
}

// Child side: runs the cases under one schedule and writes a line before ("B") and after ("R")
// each, flushed, so the parent can name the case a crash happened in.
class ChildRunner final : public Runner {
  public:
    ChildRunner(FILE* out, int schedule) : out_(out), schedule_(schedule) {}
    void run(const std::string& kernel, const std::string& config, const std::string& tolerance,
             const std::function<void(Check&)>& body) override {
        fprintf(out_, "B\t%s\t%s\n", kernel.c_str(), config.c_str());
        fflush(out_);
        // Seeded per case, so a case behaves the same whichever suites run.
        emu::reset(emu::Schedule(schedule_), fnv1a(kernel + "/" + config) + schedule_);
        Check c;
        body(c);
        fprintf(out_, "R\t%s\t%s\t%s\t%.17g\t%.17g\t%ld\t%ld\t%016llx\t%s\t%s\n", kernel.c_str(), config.c_str(),
                tolerance.c_str(), c.max_err, c.worst, c.checked, c.failed, (unsigned long long)c.hash,
                one_line(c.notes).c_str(), one_line(emu::take_faults()).c_str());
        fflush(out_);
    }

  private:
    FILE* out_;
    int schedule_;
};

struct ScheduleRun {
    std::vector<Outcome> outcomes;
    std::string death;                   // how the child died, if it did
    std::string dead_kernel, dead_config;  // the case it was in (empty: between cases)
};

ScheduleRun read_run(FILE* f, int status) {
    ScheduleRun run;
    rewind(f);
    std::string begun_kernel, begun_config;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        std::vector<std::string> field;
        std::stringstream ss(std::string(line, strcspn(line, "\n")));
        for (std::string s; std::getline(ss, s, '\t');) field.push_back(s);
        field.resize(11);
        if (field[0] == "B") {
            begun_kernel = field[1];
            begun_config = field[2];
        } else {
            run.outcomes.push_back({field[1], field[2], field[3], atof(field[4].c_str()), atof(field[5].c_str()),
                                    atol(field[6].c_str()), atol(field[7].c_str()), field[8], field[9], field[10]});
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

}  // namespace

int main(int argc, char** argv) {
    std::vector<const Suite*> suites;
    for (const Suite& s : kSuites) {
        bool wanted = argc == 1;
        for (int i = 1; i < argc; ++i) wanted |= std::string(argv[i]) == s.name;
        if (wanted) suites.push_back(&s);
    }
    if (suites.empty()) {
        fprintf(stderr, "usage: %s [norm|linear|attention|embed|sampling|hubert]...\n", argv[0]);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    fflush(stdout);
    FILE* files[emu::kSchedules];
    pid_t pids[emu::kSchedules];
    for (int s = 0; s < emu::kSchedules; ++s) {
        files[s] = tmpfile();
        pids[s] = files[s] ? fork() : -1;
        if (pids[s] < 0) {
            perror("kernel_emulation: tmpfile/fork");
            return 2;
        }
        if (pids[s] == 0) {
            alarm(300);  // a kernel that never finishes ends the child (SIGALRM), reported like a crash
            ChildRunner runner(files[s], s);
            for (const Suite* suite : suites) suite->run(runner);
            _exit(0);
        }
    }
    std::vector<ScheduleRun> runs;
    for (int s = 0; s < emu::kSchedules; ++s) {
        int status = 0;
        waitpid(pids[s], &status, 0);
        runs.push_back(read_run(files[s], status));
    }

    printf("Kernel emulation (tests/kernel_emulation): each case runs under %d schedules (", emu::kSchedules);
    for (int s = 0; s < emu::kSchedules; ++s) printf("%s%s", s ? ", " : "", emu::schedule_name(emu::Schedule(s)));
    printf(");\nPASS = every comparison within tolerance under all of them, and bit-identical outputs across them.\n");
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
            if (o.failed > 0)
                why += fmt(" %ld of %ld checks failed under %s: %s;", o.failed, o.checked, name, o.notes.c_str());
        }
        if (!first) {  // every schedule died here
            printf("%-34s %-72s %-20s %-38s FAIL:%s\n", kernel.c_str(), config.c_str(), "", "", why.c_str());
            ++failures;
            continue;
        }
        const std::string err =
            first->tolerance == "exact" ? "exact" : fmt("%.2e (%.2f)", first->max_err, first->worst);
        failures += !why.empty();
        printf("%-34s %-72s %-20s %-38s %s%s\n", first->kernel.c_str(), first->config.c_str(), err.c_str(),
               first->tolerance.c_str(), why.empty() ? "PASS" : "FAIL:", why.c_str());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    printf("%zu cases × %d schedules in %.1f s: %zu passed, %d failed\n", cases, emu::kSchedules, secs,
           cases - failures, failures);
    return failures ? 1 : 0;
}
