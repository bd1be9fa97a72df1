fn main() {
    println!("connscope");
}
