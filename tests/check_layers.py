#!/usr/bin/env python3
"""check_layers.py - src/'s modules call each other in one direction only.

A module is a .c file of src/ with its header. Module A depends on B when
A.c includes "B.h" or names a function or variable B.c defines (an sp_ or
syncprof_ name with external linkage). A header with no .c of its own
(declarations or static inlines only, such as spinlock.h or
http_server.h) is no module: what its users call counts. The check fails,
naming each loop and why each of its edges is there, when the
dependencies have a cycle; a loop is a design bug (the engine's model is
Abseil's GraphCycles under its hook: the lower layer never calls up).

Usage: check_layers.py SRC_DIR   (exit status 0: no loop)
"""
import glob
import os
import re
import sys


def strip(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def graph(srcdir):
    cfiles = {os.path.splitext(os.path.basename(f))[0]: f
              for f in glob.glob(os.path.join(srcdir, '*.c'))}
    defs = {}
    for m, f in cfiles.items():
        s = strip(open(f).read())
        for pat in (r'^(?!static)[A-Za-z_][\w \*]*?\b((?:sp|syncprof)_\w+)\s*\(',
                    r'^(?!static|extern)(?:SP_PUBLIC\s+)?[A-Za-z_][\w \*]*?'
                    r'\b((?:sp|syncprof)_\w+)\s*(?:=|;|\[)'):
            for d in re.finditer(pat, s, re.M):
                defs.setdefault(d.group(1), m)
    edges = {m: {} for m in cfiles}
    for m, f in cfiles.items():
        text = open(f).read()
        header = os.path.join(srcdir, m + '.h')
        if os.path.exists(header):
            text += open(header).read()
        for inc in re.findall(r'#include "([\w/]+)\.h"', text):
            b = os.path.basename(inc)
            if b in cfiles and b != m:
                edges[m].setdefault(b, 'includes %s.h' % b)
        for name in set(re.findall(r'\b((?:sp|syncprof)_\w+)\b', strip(open(f).read()))):
            b = defs.get(name)
            if b and b != m:
                edges[m].setdefault(b, 'uses ' + name)
    return edges


def loops(edges):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main():
    edges = graph(sys.argv[1])
    found = loops(edges)
    print('check_layers: %d modules, %d dependencies, %d loops'
          % (len(edges), sum(len(e) for e in edges.values()), len(found)))
    for comp in found:
        print('loop: ' + ' '.join(comp))
        for a in comp:
            for b, why in sorted(edges[a].items()):
                if b in comp:
                    print('  %s -> %s: %s' % (a, b, why))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
