// Thin N-API wrappers for the syscalls the harness drives. One function per
// syscall, arguments as the kernel takes them; failures throw an Error with
// code/errno/syscall. No policy lives here.
#include <napi.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <vector>

#if !defined(SYS_pidfd_open) || !defined(SYS_pidfd_send_signal) || \
    !defined(SYS_process_madvise) || !defined(SYS_process_mrelease)
#error "target headers lack pidfd/process_madvise/process_mrelease syscall numbers"
#endif

#include "uapi.h"

namespace {

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err) {
  const char* name = strerrorname_np(err);
  std::string code = name ? name : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(
      env, std::string(syscall) + ": " + code + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IntArg(const Napi::CallbackInfo& info, size_t i, int64_t dflt, int64_t* out) {
  if (info.Length() <= i || info[i].IsUndefined()) {
    *out = dflt;
    return true;
  }
  if (!info[i].IsNumber()) return false;
  *out = info[i].As<Napi::Number>().Int64Value();
  return true;
}

#define INT_ARG(i, dflt, var)                                        \
  int64_t var;                                                       \
  if (!IntArg(info, i, dflt, &var))                                  \
    return ThrowType(env, "argument " #i " (" #var ") must be a number")

#define REQUIRED(n)                                                   \
  if (info.Length() < (n))                                            \
    return ThrowType(env, "expected at least " #n " argument(s)")

// pidfdOpen(pid, flags = 0) -> fd
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(1);
  INT_ARG(0, 0, pid);
  INT_ARG(1, 0, flags);
  long fd = syscall(SYS_pidfd_open, (pid_t)pid, (unsigned int)flags);
  if (fd < 0) return ThrowErrno(env, "pidfd_open", errno);
  return Napi::Number::New(env, (double)fd);
}

// pidfdSendSignal(pidfd, sig, flags = 0); siginfo is always NULL.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(2);
  INT_ARG(0, 0, pidfd);
  INT_ARG(1, 0, sig);
  INT_ARG(2, 0, flags);
  if (syscall(SYS_pidfd_send_signal, (int)pidfd, (int)sig, nullptr,
              (unsigned int)flags) < 0)
    return ThrowErrno(env, "pidfd_send_signal", errno);
  return env.Undefined();
}

// poll(fd, events, timeoutMs) -> revents: poll(2) on one fd (0 when the timeout passed).
// A pidfd is readable once its process has exited.
Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(3);
  INT_ARG(0, 0, fd);
  INT_ARG(1, 0, events);
  INT_ARG(2, 0, timeout);
  struct pollfd p = {(int)fd, (short)events, 0};
  int n = poll(&p, 1, (int)timeout);
  if (n < 0) return ThrowErrno(env, "poll", errno);
  return Napi::Number::New(env, n ? p.revents : 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(1);
  INT_ARG(0, 0, fd);
  if (close((int)fd) < 0) return ThrowErrno(env, "close", errno);
  return env.Undefined();
}

bool BigIntField(Napi::Object o, const char* key, uint64_t* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsBigInt()) return false;
  bool lossless;
  *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless;
}

// processMadvise(pidfd, vec, advice, flags, vlen?) -> bigint, what the kernel returns
// (bytes advised; 0 with PMADV_FLAG_RANGE). vec is an array of {addr, len}
// (built here), null (NULL), or a bigint: the iovec pointer itself, valid or
// not. vlen defaults to the array's length (0 for null or a pointer).
Napi::Value ProcessMadvise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(4);
  INT_ARG(0, 0, pidfd);
  INT_ARG(2, 0, advice);
  INT_ARG(3, 0, flags);
  std::vector<struct iovec> vec;
  const void* ptr = nullptr;
  if (info[1].IsBigInt()) {
    bool lossless;
    ptr = (const void*)(uintptr_t)info[1].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) return ThrowType(env, "a vec pointer must fit in 64 bits");
  } else if (!info[1].IsNull()) {
    if (!info[1].IsArray())
      return ThrowType(env, "vec must be an array of {addr: bigint, len: bigint}, null or a bigint pointer");
    Napi::Array arr = info[1].As<Napi::Array>();
    vec.resize(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value el = arr.Get(i);
      uint64_t addr, len;
      if (!el.IsObject() || !BigIntField(el.As<Napi::Object>(), "addr", &addr) ||
          !BigIntField(el.As<Napi::Object>(), "len", &len))
        return ThrowType(env, "each iovec must be {addr: bigint, len: bigint} within 64 bits");
      vec[i].iov_base = (void*)(uintptr_t)addr;
      vec[i].iov_len = (size_t)len;
    }
    if (!vec.empty()) ptr = vec.data();
  }
  uint64_t vlen = vec.size();
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    bool lossless;
    if (!info[4].IsBigInt()) return ThrowType(env, "argument 4 (vlen) must be a bigint");
    vlen = info[4].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) return ThrowType(env, "vlen must fit in 64 bits");
  }
  long ret = syscall(SYS_process_madvise, (int)pidfd, ptr, (size_t)vlen,
                     (int)advice, (unsigned int)flags);
  if (ret < 0) return ThrowErrno(env, "process_madvise", errno);
  return Napi::BigInt::New(env, (int64_t)ret);
}

// processMrelease(pidfd, flags = 0)
Napi::Value ProcessMrelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(1);
  INT_ARG(0, 0, pidfd);
  INT_ARG(1, 0, flags);
  if (syscall(SYS_process_mrelease, (int)pidfd, (unsigned int)flags) < 0)
    return ThrowErrno(env, "process_mrelease", errno);
  return env.Undefined();
}

// schedSetaffinity(pid, cpus[]): pid 0 is the calling thread.
Napi::Value SchedSetaffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(2);
  INT_ARG(0, 0, pid);
  if (!info[1].IsArray()) return ThrowType(env, "cpus must be an array of numbers");
  Napi::Array arr = info[1].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "cpus must be an array of numbers");
    int cpu = v.As<Napi::Number>().Int32Value();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return ThrowType(env, "cpu index out of range");
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity((pid_t)pid, sizeof(set), &set) < 0)
    return ThrowErrno(env, "sched_setaffinity", errno);
  return env.Undefined();
}

// schedSetscheduler(pid, policy, priority): pid 0 is the calling thread;
// policy may carry SCHED_RESET_ON_FORK.
Napi::Value SchedSetscheduler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(3);
  INT_ARG(0, 0, pid);
  INT_ARG(1, 0, policy);
  INT_ARG(2, 0, priority);
  struct sched_param sp = {};
  sp.sched_priority = (int)priority;
  if (sched_setscheduler((pid_t)pid, (int)policy, &sp) < 0)
    return ThrowErrno(env, "sched_setscheduler", errno);
  return env.Undefined();
}

// schedGetaffinity(pid) -> cpus[]
Napi::Value SchedGetaffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRED(1);
  INT_ARG(0, 0, pid);
  cpu_set_t set;
  if (sched_getaffinity((pid_t)pid, sizeof(set), &set) < 0)
    return ThrowErrno(env, "sched_getaffinity", errno);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.Set(n++, Napi::Number::New(env, cpu));
  return out;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define C(name) c.Set(#name, Napi::Number::New(env, name))
  C(SYS_pidfd_open);
  C(SYS_pidfd_send_signal);
  C(SYS_process_madvise);
  C(SYS_process_mrelease);
  C(MADV_NORMAL);
  C(MADV_RANDOM);
  C(MADV_SEQUENTIAL);
  C(MADV_WILLNEED);
  C(MADV_DONTNEED);
  C(MADV_FREE);
  C(MADV_REMOVE);
  C(MADV_DONTFORK);
  C(MADV_DOFORK);
  C(MADV_MERGEABLE);
  C(MADV_UNMERGEABLE);
  C(MADV_HUGEPAGE);
  C(MADV_NOHUGEPAGE);
  C(MADV_DONTDUMP);
  C(MADV_DODUMP);
  C(MADV_WIPEONFORK);
  C(MADV_KEEPONFORK);
  C(MADV_COLD);
  C(MADV_PAGEOUT);
  C(MADV_POPULATE_READ);
  C(MADV_POPULATE_WRITE);
  C(POLLIN);
  C(SCHED_OTHER);
  C(SCHED_FIFO);
  C(SCHED_RESET_ON_FORK);
  C(MADV_COLLAPSE);
  C(PMADV_FLAG_RANGE);
#undef C
  return c;
}

const char* Arch() {
#if defined(__aarch64__)
  return "arm64";
#elif defined(__x86_64__)
  return "x64";
#else
  return "unknown";
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("processMadvise", Napi::Function::New(env, ProcessMadvise, "processMadvise"));
  exports.Set("processMrelease", Napi::Function::New(env, ProcessMrelease, "processMrelease"));
  exports.Set("schedSetaffinity", Napi::Function::New(env, SchedSetaffinity, "schedSetaffinity"));
  exports.Set("schedGetaffinity", Napi::Function::New(env, SchedGetaffinity, "schedGetaffinity"));
  exports.Set("schedSetscheduler", Napi::Function::New(env, SchedSetscheduler, "schedSetscheduler"));
  exports.Set("pageSize", Napi::Number::New(env, (double)sysconf(_SC_PAGESIZE)));
  exports.Set("arch", Napi::String::New(env, Arch()));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(reclaim_shim, Init)
