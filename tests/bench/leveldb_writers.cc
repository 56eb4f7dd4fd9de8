/*
 * leveldb_writers.cc - a C++ program on Debian's libleveldb for
 * tests/bench/real_programs.sh: THREADS writer threads each put KEYS
 * 100-byte values into one database (a fresh directory), the workload of
 * leveldb's db_bench fillrandom with threads, whose contention is
 * DBImpl::Write's writer queue (a std::mutex and std::condition_variable
 * inside libleveldb). Prints "puts N" and checks that every key reads back.
 *
 *   leveldb_writers DIR THREADS KEYS
 */
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: leveldb_writers DIR THREADS KEYS\n");
        return 2;
    }
    const std::string dir = argv[1];
    const int threads = std::atoi(argv[2]), keys = std::atoi(argv[3]);
    if (threads <= 0 || threads > 64 || keys <= 0) {
        std::fprintf(stderr, "leveldb_writers: bad arguments\n");
        return 2;
    }
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
    for (int t = 0; t < threads; t++)
        writers.emplace_back([&, t] {
            unsigned seed = (unsigned)t + 1;
            for (int i = 0; i < keys; i++) {
                (void)rand_r(&seed);
                std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
                db->Put(leveldb::WriteOptions(), key, value);
            }
        });
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
    long want = (long)threads * ((keys + 96) / 97);
    delete db;
    leveldb::DestroyDB(dir, leveldb::Options());
    if (found != want) {
        std::fprintf(stderr, "leveldb_writers: %ld of %ld keys read back\n", found, want);
        return 1;
    }
    std::printf("puts %ld\n", (long)threads * keys);
    return 0;
}
