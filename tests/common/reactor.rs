//! A wasmtime host for the WASI reactor module (`alloc`/`dealloc`/`call`), shared by the host
//! tests and the wasmtime bench.

use std::path::Path;

use wasmtime::{Engine, Linker, Memory, Module, Store, TypedFunc};

/// The reactor module, instantiated.
pub struct Reactor {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    dealloc: TypedFunc<(u32, u32), ()>,
    call: TypedFunc<(u32, u32), u64>,
}

impl Reactor {
    /// Loads and instantiates the module at `path` (built by
    /// `cargo build --release --target wasm32-wasip1`).
    pub fn load(engine: &Engine, path: &Path) -> Reactor {
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo build --release --target wasm32-wasip1` (after `rustup target add wasm32-wasip1`)",
            path.display()
        );
        let m = Module::from_file(engine, path).expect("load module");
        let mut linker = Linker::new(engine);
        // A std wasip1 module imports fd_write, environ_*, proc_exit: reached only on a panic,
        // which would be a bug; they trap here so that such a bug fails loudly.
        linker
            .define_unknown_imports_as_traps(&m)
            .expect("define imports");
        let mut store = Store::new(engine, ());
        let inst = linker
            .instantiate(&mut store, &m)
            .expect("instantiate reactor");
        if let Ok(init) = inst.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ()).expect("_initialize");
        }
        Reactor {
            memory: inst
                .get_memory(&mut store, "memory")
                .expect("memory export"),
            alloc: inst
                .get_typed_func(&mut store, "alloc")
                .expect("alloc export"),
            dealloc: inst
                .get_typed_func(&mut store, "dealloc")
                .expect("dealloc export"),
            call: inst
                .get_typed_func(&mut store, "call")
                .expect("call export"),
            store,
        }
    }

    /// One request in, one response out; every step must not trap.
    pub fn call(&mut self, input: &[u8]) -> Vec<u8> {
        let len = u32::try_from(input.len()).expect("input fits in wasm32");
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .expect("alloc must not trap");
        assert_ne!(ptr, 0, "alloc({len}) failed");
        // Memory may have grown in alloc: write through the current view.
        self.memory
            .write(&mut self.store, ptr as usize, input)
            .expect("write input");
        let packed = self
            .call
            .call(&mut self.store, (ptr, len))
            .expect("call must not trap");
        self.dealloc
            .call(&mut self.store, (ptr, len))
            .expect("dealloc input");
        assert_ne!(packed, 0, "call returned no response");
        let (rp, rl) = ((packed >> 32) as u32, (packed & 0xffff_ffff) as u32);
        let mut out = vec![0u8; rl as usize];
        self.memory
            .read(&self.store, rp as usize, &mut out)
            .expect("read response");
        self.dealloc
            .call(&mut self.store, (rp, rl))
            .expect("dealloc response");
        out
    }
}
