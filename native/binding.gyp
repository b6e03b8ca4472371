{
  "targets": [
    {
      "target_name": "portcullis",
      "sources": [
        "src/addon.cc",
        "src/counters.cc",
        "src/event-pump.cc",
        "src/firewall-core.cc",
        "src/firewall.cc",
        "src/holds.cc",
        "src/map-fill.cc",
        "src/native-error.cc",
        "src/pins.cc",
        "src/tally.cc",
        "src/probe.cc",
        "src/test-programs.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../bpf",
        "../build/bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
