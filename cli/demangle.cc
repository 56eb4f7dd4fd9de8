// demangle.cc - C++ names for `syncprof report`, through libstdc++'s own
// demangler (abi::__cxa_demangle), so no c++filt is needed at run time.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>

extern "C" char *sp_demangle(const char *name);

// A malloc'd human name for name: demangled if it is a mangled C++ name
// (with or without a ".cold"/".isra" style suffix, which stays appended),
// else a copy. NULL only when out of memory.
extern "C" char *sp_demangle(const char *name)
{
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
        if (d && status == 0)
            return d;
        std::free(d);
        const char *dot = std::strchr(name, '.');
        if (dot) {
            char *base = strndup(name, static_cast<size_t>(dot - name));
            d = base ? abi::__cxa_demangle(base, nullptr, nullptr, &status) : nullptr;
            std::free(base);
            if (d && status == 0) {
                size_t n = std::strlen(d) + std::strlen(dot) + 3;
                char *out = static_cast<char *>(std::malloc(n));
                if (out)
                    std::snprintf(out, n, "%s [%s]", d, dot + 1);
                std::free(d);
                if (out)
                    return out;
            } else {
                std::free(d);
            }
        }
    }
    return strdup(name);
}
