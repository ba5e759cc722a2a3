{
  "targets": [
    {
      "target_name": "reclaim_shim",
      "sources": ["native/shim.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "subject",
      "type": "executable",
      "sources": ["native/subject.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"]
    }
  ]
}
