// cxx_locks.cc - a C++ program on std::mutex, std::condition_variable,
// std::shared_mutex (std::shared_timed_mutex before C++17) and std::thread,
// compiled C++11 to C++23 with the forced include. Run (C++17): three
// restockers contend on stock_mutex, readers and a writer on the catalog;
// the mutex profile charges restock() and update_catalog().
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>
#if __cplusplus >= 201703L
#include <shared_mutex>
typedef std::shared_mutex catalog_lock;
#elif __cplusplus >= 201402L
#include <shared_mutex>
typedef std::shared_timed_mutex catalog_lock;
#else
typedef std::mutex catalog_lock;
#endif

static std::mutex stock_mutex;
static std::condition_variable restocked;
static catalog_lock catalog_mutex;
static int stock, catalog;

__attribute__((noinline)) static void restock(int n)
{
    std::lock_guard<std::mutex> g(stock_mutex);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    stock += n;
    restocked.notify_all();
}

__attribute__((noinline)) static void update_catalog()
{
    std::lock_guard<catalog_lock> g(catalog_mutex);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    catalog++;
}

__attribute__((noinline)) static int browse()
{
#if __cplusplus >= 201402L
    std::shared_lock<catalog_lock> g(catalog_mutex);
#else
    std::lock_guard<catalog_lock> g(catalog_mutex);
#endif
    return catalog;
}

int main()
{
    int (*lock_fn)(pthread_mutex_t *) = &pthread_mutex_lock; // the pthread type
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; i++)
        ts.emplace_back([] { for (int k = 0; k < 20; k++) restock(1); });
    ts.emplace_back([] { for (int k = 0; k < 20; k++) update_catalog(); });
    ts.emplace_back([] { for (int k = 0; k < 200; k++) browse(); });
    {
        std::unique_lock<std::mutex> l(stock_mutex);
        restocked.wait(l, [] { return stock >= 60; });
    }
    for (auto &t : ts)
        t.join();
    std::printf("stock %d catalog %d %s\n", stock, catalog, lock_fn ? "ok" : "no");
    return stock == 60 && catalog == 20 ? 0 : 1;
}
