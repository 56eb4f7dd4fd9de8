/*
 * leveldb_writers.cc - a C++ program on Debian's libleveldb: THREADS writer
 * threads each put KEYS 100-byte values into one fresh database, the
 * workload of leveldb's db_bench fillrandom with threads. Its contention
 * is inside libleveldb: DBImpl::Write's writer queue (a std::mutex and a
 * std::condition_variable, whose wait is in libstdc++.so). The program's
 * own code takes one lock, note_progress()'s, every 50 puts; the writers
 * start waiting for it while main holds it (open_gate). Prints "puts
 * N found M" (every 97th key is read back).
 *
 *   leveldb_writers DIR THREADS KEYS
 */
#include <leveldb/db.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::mutex progress_mutex;
static long progress;

__attribute__((noinline)) static void note_progress(int n)
{
    std::lock_guard<std::mutex> g(progress_mutex);
    progress += n;
}

// The writers start behind progress_mutex, which main holds 1 ms: a
// contention of the program's own code, charged here.
__attribute__((noinline)) static void open_gate()
{
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    progress_mutex.unlock();
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: leveldb_writers DIR THREADS KEYS\n");
        return 2;
    }
    const std::string dir = argv[1];
    const int threads = std::atoi(argv[2]), keys = std::atoi(argv[3]);
    if (threads <= 0 || threads > 64 || keys <= 0)
        return 2;
    leveldb::DestroyDB(dir, leveldb::Options());
    leveldb::Options options;
    options.create_if_missing = true;
    leveldb::DB *db = nullptr;
    leveldb::Status s = leveldb::DB::Open(options, dir, &db);
    if (!s.ok()) {
        std::fprintf(stderr, "leveldb_writers: %s\n", s.ToString().c_str());
        return 1;
    }
    const std::string value(100, 'v');
    std::vector<std::thread> writers;
    progress_mutex.lock();
    for (int t = 0; t < threads; t++)
        writers.emplace_back([&, t] {
            note_progress(0);
            for (int i = 0; i < keys; i++) {
                db->Put(leveldb::WriteOptions(), "k" + std::to_string(t) + "-" + std::to_string(i), value);
                if (i % 50 == 49)
                    note_progress(50);
            }
        });
    open_gate();
    for (auto &w : writers)
        w.join();
    long found = 0;
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < keys; i += 97) {
            std::string v;
            if (db->Get(leveldb::ReadOptions(), "k" + std::to_string(t) + "-" + std::to_string(i), &v).ok() &&
                v == value)
                found++;
        }
    delete db;
    std::printf("puts %ld found %ld\n", progress, found);
    return progress == (long)threads * (keys / 50 * 50) ? 0 : 1;
}
