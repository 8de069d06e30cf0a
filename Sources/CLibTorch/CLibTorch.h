// CLibTorch carries libtorch's compiler and linker flags (pkg-config package `proxima-libtorch`, written by
// scripts/setup) to the C++ targets that depend on it. It declares nothing itself.
#pragma once
