//! Functions whose arguments come as a tuple, for [`Pool::starmap`](super::Pool::starmap).

/// A function of 1 to 12 parameters that [`Pool::starmap`](super::Pool::starmap) calls with
/// the elements of an argument tuple (Python's `starmap`, `f(*args)`).
///
/// Implemented for every `Fn(A, B, …) -> R` with `Args = (A, B, …)`. `starmap` takes only
/// functions and closures that capture nothing (zero-sized types), checked when it compiles:
/// a worker calls its own copy of the code, and there is no captured state to send it.
///
/// # Examples
///
/// ```
/// let pool = mp_core::Pool::new(2)?;
/// let v = pool.starmap(|a: u8, b: u16, c: u32| a as u32 + b as u32 + c, vec![(1, 2, 3), (4, 5, 6)])?;
/// assert_eq!(v, [6, 15]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A capturing closure does not compile:
///
/// ```compile_fail
/// let pool = mp_core::Pool::new(2)?;
/// let offset = 10u32;
/// pool.starmap(move |a: u32, b: u32| a + b + offset, vec![(1, 2)])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait StarFn<Args>: Copy + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with the elements of `args`.
    fn call_with(self, args: Args) -> Self::Output;
}

macro_rules! star_fn {
    ($($t:ident $v:ident),+) => {
        impl<Func, Ret, $($t),+> StarFn<($($t,)+)> for Func
        where
            Func: Fn($($t),+) -> Ret + Copy + 'static,
        {
            type Output = Ret;

            fn call_with(self, ($($v,)+): ($($t,)+)) -> Ret {
                self($($v),+)
            }
        }
    };
}

star_fn!(A a);
star_fn!(A a, B b);
star_fn!(A a, B b, C c);
star_fn!(A a, B b, C c, D d);
star_fn!(A a, B b, C c, D d, E e);
star_fn!(A a, B b, C c, D d, E e, F f);
star_fn!(A a, B b, C c, D d, E e, F f, G g);
star_fn!(A a, B b, C c, D d, E e, F f, G g, H h);
star_fn!(A a, B b, C c, D d, E e, F f, G g, H h, I i);
star_fn!(A a, B b, C c, D d, E e, F f, G g, H h, I i, J j);
star_fn!(A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k);
star_fn!(A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l);
