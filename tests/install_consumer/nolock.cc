// A C++ program that refers to nothing of syncprof and whose own code calls
// no pthread function: a std::condition_variable wait (in libstdc++.so) is
// its only blocking. Linked with syncprof::interpose, the library is loaded
// all the same (--as-needed would drop it) and the wait is observed: run
// with SYNCPROF_BLOCK_RATE=1 SYNCPROF_OUT=DIR, DIR/block.<pid>.pb.gz has it.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

int main()
{
    std::mutex m;
    std::condition_variable cv;
    bool ready = false;
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::lock_guard<std::mutex> g(m);
        ready = true;
        cv.notify_one();
    });
    {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return ready; });
    }
    t.join();
    return 0;
}
