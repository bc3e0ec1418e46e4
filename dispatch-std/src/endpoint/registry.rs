//! The function registry: name → async handler.

use core::future::Future;
use std::collections::HashMap;
use std::sync::Arc;

use prost_types::Any;

use super::durable::{DurableContext, run_durable};
use super::function::{FunctionError, Outcome, Run};
use dispatch_core::any::{self, AnyMessage};
use dispatch_core::validate::is_valid_function_name;

use crate::BoxFuture;

/// What a function returns: how it ends, or why it failed.
pub type FunctionResult = Result<Outcome, FunctionError>;

type Handler = Arc<dyn Fn(Run<Any>) -> BoxFuture<FunctionResult> + Send + Sync>;

/// Functions by name, each an async handler.
///
/// ```
/// use dispatch_std::endpoint::{Outcome, Registry, Run, Directive};
///
/// let mut registry = Registry::new();
/// registry.register("greet", |run: Run<String>| async move {
///     match run.directive {
///         Directive::Input(name) => Ok(Outcome::value(&format!("hello, {name}"))),
///         Directive::Resume(_) => Ok(Outcome::none()),
///     }
/// });
/// assert!(registry.contains("greet"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    functions: HashMap<String, Handler>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a function whose input is a message `I`, unpacked from the
    /// request's `Any` with [`dispatch_core::any::unpack`] (any type URL
    /// prefix). An input it cannot unpack ends the run with
    /// `INVALID_ARGUMENT` without calling the handler; resumes are passed on
    /// as they are.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid function name
    /// (`^[a-zA-Z_][a-zA-Z0-9_<>.]*$`) or is already registered (programming
    /// errors).
    pub fn register<I, F, Fut>(&mut self, name: impl Into<String>, handler: F) -> &mut Self
    where
        I: AnyMessage + Send + 'static,
        F: Fn(Run<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FunctionResult> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register_any(name, move |run: Run<Any>| {
            let handler = Arc::clone(&handler);
            async move {
                let mut unreadable = None;
                let run = run.map_input(|input| {
                    any::unpack::<I>(&input).unwrap_or_else(|error| {
                        unreadable = Some((input.type_url, error));
                        I::default()
                    })
                });
                if let Some((type_url, error)) = unreadable {
                    return Err(FunctionError::invalid_argument(format!(
                        "the input ({type_url:?}) is unusable: {error}"
                    )));
                }
                handler(run).await
            }
        })
    }

    /// Registers a durable function: ordinary async code that calls other
    /// functions, sleeps and reads the clock through its
    /// [`DurableContext`], each operation recorded in a journal carried in
    /// the run's polls, so that the function suspends while it waits and
    /// resumes on any replica (see [`durable`](super::durable)). Its input is
    /// a message `I` as for [`Registry::register`]; it returns an
    /// [`Outcome`] (a value, none, or a tail call) or a [`FunctionError`].
    ///
    /// ```
    /// use dispatch_std::endpoint::{Outcome, Registry};
    ///
    /// let mut registry = Registry::new();
    /// registry.durable("sum_of_squares", |ctx, n: i64| async move {
    ///     let squares = (1..=n).map(|i| ctx.call::<i64>("square", &i));
    ///     let sum: i64 = ctx.gather(squares).await?.into_iter().sum();
    ///     Ok(Outcome::value(&sum))
    /// });
    /// assert!(registry.contains("sum_of_squares"));
    /// ```
    ///
    /// # Panics
    ///
    /// When `name` is not a valid function name or is already registered.
    pub fn durable<I, F, Fut>(&mut self, name: impl Into<String>, function: F) -> &mut Self
    where
        I: AnyMessage + Send + 'static,
        F: Fn(DurableContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FunctionResult> + Send + 'static,
    {
        let function = Arc::new(function);
        self.register_any(name, move |run: Run<Any>| {
            let function = Arc::clone(&function);
            async move { run_durable(run, &*function).await }
        })
    }

    /// Registers a function that takes its input as the raw `Any`, whatever it
    /// holds (opaque values such as Python's `Pickled` included).
    ///
    /// # Panics
    ///
    /// When `name` is not a valid function name or is already registered.
    pub fn register_any<F, Fut>(&mut self, name: impl Into<String>, handler: F) -> &mut Self
    where
        F: Fn(Run<Any>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FunctionResult> + Send + 'static,
    {
        let name = name.into();
        assert!(
            is_valid_function_name(&name),
            "{name:?} is not a valid function name (^[a-zA-Z_][a-zA-Z0-9_<>.]*$)"
        );
        let erased: Handler = Arc::new(move |run| Box::pin(handler(run)));
        let previous = self.functions.insert(name.clone(), erased);
        assert!(previous.is_none(), "function {name:?} is registered twice");
        self
    }

    /// Whether a function of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// The names of the registered functions, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// Starts the handler of `run.function`, or `None` when it is unknown.
    pub(crate) fn start(&self, run: Run<Any>) -> Option<BoxFuture<FunctionResult>> {
        let handler = self.functions.get(&run.function)?;
        Some(handler(run))
    }
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.functions.keys()).finish()
    }
}
