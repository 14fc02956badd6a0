//! One macro for the forwarding impls every core trait has: `Arc<T>` and
//! `Box<T>` of an implementation (sized or `dyn`) implement the trait by
//! calling through, every method included (defaults too, so a wrapper
//! around a backend that overrides a default keeps the override).
//!
//! The trait's methods are listed once, plain ones first, then the
//! `async` ones (written as in the trait, `#[async_trait]` style):
//!
//! ```ignore
//! forward_impls! {
//!     impl[S: Stage] Executor<S> {
//!         async fn execute(&self, task: S) -> Result<S::Output, StageError>;
//!     }
//! }
//! ```

/// Implements the trait for `Arc<T>` and `Box<T>` (`T: ?Sized`) by
/// forwarding every listed method to `T`. See the [module docs](self).
macro_rules! forward_impls {
    (
        impl[$($gen:tt)*] $tr:path {
            $(fn $f:ident(&self $(, $fa:ident: $ft:ty)* $(,)?) -> $fr:ty;)*
            $(async fn $m:ident(&self $(, $a:ident: $t:ty)* $(,)?) -> $r:ty;)*
        }
    ) => {
        $crate::forward::forward_impls! {
            @for [::std::sync::Arc<T>] [$($gen)*] $tr {
                $(fn $f(&self $(, $fa: $ft)*) -> $fr;)*
                $(async fn $m(&self $(, $a: $t)*) -> $r;)*
            }
        }
        $crate::forward::forward_impls! {
            @for [::std::boxed::Box<T>] [$($gen)*] $tr {
                $(fn $f(&self $(, $fa: $ft)*) -> $fr;)*
                $(async fn $m(&self $(, $a: $t)*) -> $r;)*
            }
        }
    };
    (
        @for [$ptr:ty] [$($gen:tt)*] $tr:path {
            $(fn $f:ident(&self $(, $fa:ident: $ft:ty)*) -> $fr:ty;)*
            $(async fn $m:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty;)*
        }
    ) => {
        #[::async_trait::async_trait]
        impl<$($gen)* T: $tr + ?Sized> $tr for $ptr {
            $(fn $f(&self $(, $fa: $ft)*) -> $fr {
                (**self).$f($($fa),*)
            })*
            $(async fn $m(&self $(, $a: $t)*) -> $r {
                (**self).$m($($a),*).await
            })*
        }
    };
}

pub(crate) use forward_impls;
