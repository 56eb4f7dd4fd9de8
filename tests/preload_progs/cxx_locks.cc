// cxx_locks.cc - std::mutex, std::shared_mutex and std::condition_variable
// under contention, in a C++ program that knows nothing of syncprof. The
// functions live in a namespace so that their mangled names are visibly
// demangled by `syncprof report` (shop::restock(int), ...).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace shop {

std::mutex stock_mutex;
long stock;
std::shared_mutex catalog_mutex;
int catalog;
std::mutex queue_mutex;
std::condition_variable queue_cv;
std::deque<int> orders;

__attribute__((noinline)) void restock(int n)
{
    std::lock_guard<std::mutex> guard(stock_mutex);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    stock += n;
}

__attribute__((noinline)) int browse()
{
    std::shared_lock<std::shared_mutex> guard(catalog_mutex);
    return catalog;
}

__attribute__((noinline)) void update_catalog()
{
    std::unique_lock<std::shared_mutex> guard(catalog_mutex);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    catalog++;
}

__attribute__((noinline)) int take_order()
{
    std::unique_lock<std::mutex> lock(queue_mutex);
    queue_cv.wait(lock, [] { return !orders.empty(); });
    int o = orders.front();
    orders.pop_front();
    return o;
}

__attribute__((noinline)) void place_order(int o)
{
    {
        std::lock_guard<std::mutex> guard(queue_mutex);
        orders.push_back(o);
    }
    queue_cv.notify_one();
}

} // namespace shop

int main()
{
    const int rounds = 100;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; t++)
        threads.emplace_back([] {
            for (int i = 0; i < rounds; i++)
                shop::restock(1);
        });
    for (int t = 0; t < 2; t++)
        threads.emplace_back([] {
            for (int i = 0; i < rounds; i++) {
                shop::update_catalog();
                shop::browse();
            }
        });
    long taken = 0;
    std::thread consumer([&taken] {
        for (int i = 0; i < rounds; i++)
            taken += shop::take_order();
    });
    for (int i = 0; i < rounds; i++) {
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        shop::place_order(1);
    }
    consumer.join();
    for (auto &t : threads)
        t.join();
    std::printf("stock %ld catalog %d orders %ld\n", shop::stock, shop::catalog, taken);
    return shop::stock == 3 * rounds && shop::catalog == 2 * rounds && taken == rounds ? 0 : 1;
}
