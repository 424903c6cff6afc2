fn main() {
    std::process::exit(k6gate::cli::main());
}
