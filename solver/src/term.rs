//! The typed logic layer: variables declared in a [`Vocabulary`], formulas built only
//! through the checked constructors of [`Term`]. Nothing here knows about AWS.

use crate::glob::Glob;
use std::net::IpAddr;
use std::sync::Arc;

macro_rules! var_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) usize);
    };
}

var_id!(
    /// A string variable, cut into regions by the patterns it is matched against.
    StrVar
);
var_id!(
    /// A finite set of strings (a multi-valued key), tracked per region.
    SetVar
);
var_id!(
    /// An unbounded integer (numbers are scaled by the caller; dates are nanoseconds).
    IntVar
);
var_id!(
    /// An IPv4 or IPv6 address.
    IpVar
);
var_id!(
    /// A propositional variable.
    BoolVar
);

/// A declared string or set variable: its name and preferred witness strings.
#[derive(Debug, Clone)]
pub(crate) struct StrDecl {
    pub name: String,
    pub hints: Vec<String>,
    /// When set, the value only matters while this flag holds (e.g. the key is present):
    /// models are not told apart by the value otherwise.
    pub guard: Option<BoolVar>,
    /// A finite domain: the variable holds one of these strings (regions are computed by
    /// evaluating the patterns on each, no automaton needed).
    pub domain: Option<Vec<String>>,
}

/// The variables of one problem.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub(crate) strs: Vec<StrDecl>,
    pub(crate) sets: Vec<StrDecl>,
    pub(crate) ints: Vec<String>,
    pub(crate) ips: Vec<String>,
    pub(crate) bools: Vec<String>,
}

impl Vocabulary {
    pub fn str_var(&mut self, name: &str, hints: Vec<String>) -> StrVar {
        self.strs.push(StrDecl { name: name.to_string(), hints, guard: None, domain: None });
        StrVar(self.strs.len() - 1)
    }

    /// A string variable that holds one of `values` (e.g. the actions of a service).
    pub fn enum_var(&mut self, name: &str, values: Vec<String>) -> StrVar {
        self.strs.push(StrDecl { name: name.to_string(), hints: vec![], guard: None, domain: Some(values) });
        StrVar(self.strs.len() - 1)
    }

    /// A string variable whose value matters only while `guard` holds.
    pub fn str_var_when(&mut self, name: &str, hints: Vec<String>, guard: BoolVar) -> StrVar {
        self.strs.push(StrDecl { name: name.to_string(), hints, guard: Some(guard), domain: None });
        StrVar(self.strs.len() - 1)
    }

    pub fn set_var(&mut self, name: &str, hints: Vec<String>) -> SetVar {
        self.sets.push(StrDecl { name: name.to_string(), hints, guard: None, domain: None });
        SetVar(self.sets.len() - 1)
    }

    /// A set variable whose content matters only while `guard` holds.
    pub fn set_var_when(&mut self, name: &str, hints: Vec<String>, guard: BoolVar) -> SetVar {
        self.sets.push(StrDecl { name: name.to_string(), hints, guard: Some(guard), domain: None });
        SetVar(self.sets.len() - 1)
    }

    pub fn int_var(&mut self, name: &str) -> IntVar {
        self.ints.push(name.to_string());
        IntVar(self.ints.len() - 1)
    }

    pub fn ip_var(&mut self, name: &str) -> IpVar {
        self.ips.push(name.to_string());
        IpVar(self.ips.len() - 1)
    }

    pub fn bool_var(&mut self, name: &str) -> BoolVar {
        self.bools.push(name.to_string());
        BoolVar(self.bools.len() - 1)
    }

    pub fn str_name(&self, v: StrVar) -> &str {
        &self.strs[v.0].name
    }
}

/// Integer comparison against a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    pub fn holds(self, a: i128, b: i128) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ge => a >= b,
            Cmp::Gt => a > b,
        }
    }
}

/// A CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub(crate) v6: bool,
    pub(crate) net: u128,
    pub(crate) prefix: u8,
}

impl Cidr {
    /// `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let (v6, net, bits) = match addr {
            IpAddr::V4(a) => (false, u32::from(a) as u128, 32),
            IpAddr::V6(a) => (true, u128::from(a), 128),
        };
        (prefix <= bits).then_some(Cidr { v6, net, prefix })
    }

    pub(crate) fn width(&self) -> u32 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits) = match ip {
            IpAddr::V4(a) => (false, u32::from(a) as u128),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        let shift = self.width() - self.prefix as u32;
        v6 == self.v6 && shr(bits, shift) == shr(self.net, shift)
    }
}

pub(crate) fn shr(v: u128, by: u32) -> u128 {
    v.checked_shr(by).unwrap_or(0)
}

/// A predicate on one element of a set (a boolean combination of patterns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElemPred {
    Const(bool),
    Match(Glob),
    Not(Box<ElemPred>),
    And(Vec<ElemPred>),
    Or(Vec<ElemPred>),
}

/// `!p`: the predicate's negation, with constants folded and double negation removed.
impl std::ops::Not for ElemPred {
    type Output = ElemPred;

    fn not(self) -> ElemPred {
        match self {
            ElemPred::Const(b) => ElemPred::Const(!b),
            ElemPred::Not(inner) => *inner,
            p => ElemPred::Not(Box::new(p)),
        }
    }
}

impl ElemPred {
    pub fn matches(g: Glob) -> ElemPred {
        ElemPred::Match(g)
    }

    pub fn or(ps: Vec<ElemPred>) -> ElemPred {
        if ps.contains(&ElemPred::Const(true)) {
            return ElemPred::Const(true);
        }
        let ps: Vec<ElemPred> = ps.into_iter().filter(|p| *p != ElemPred::Const(false)).collect();
        match ps.len() {
            0 => ElemPred::Const(false),
            1 => ps.into_iter().next().unwrap_or(ElemPred::Const(false)),
            _ => ElemPred::Or(ps),
        }
    }

    pub(crate) fn globs<'a>(&'a self, out: &mut Vec<&'a Glob>) {
        match self {
            ElemPred::Const(_) => {}
            ElemPred::Match(g) => out.push(g),
            ElemPred::Not(p) => p.globs(out),
            ElemPred::And(ps) | ElemPred::Or(ps) => ps.iter().for_each(|p| p.globs(out)),
        }
    }

    /// Evaluates on a concrete element; `signs` gives the truth of each pattern.
    pub fn eval(&self, holds: &dyn Fn(&Glob) -> bool) -> bool {
        match self {
            ElemPred::Const(b) => *b,
            ElemPred::Match(g) => holds(g),
            ElemPred::Not(p) => !p.eval(holds),
            ElemPred::And(ps) => ps.iter().all(|p| p.eval(holds)),
            ElemPred::Or(ps) => ps.iter().any(|p| p.eval(holds)),
        }
    }
}

/// Flattening: the children of a nested conjunction (disjunction), moved when this was
/// their only reference.
fn extend_shared(out: &mut Vec<Term>, inner: Arc<Vec<Term>>) {
    match Arc::try_unwrap(inner) {
        Ok(children) => out.extend(children),
        Err(shared) => out.extend(shared.iter().cloned()),
    }
}

/// A formula. Build it with the constructors, which fold constants and flatten. Compound
/// nodes are shared (`Arc`): encoders reuse sub-formulas (the caller's class, a statement's
/// applicability) many times, and a clone must not copy the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term(pub(crate) Node);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Const(bool),
    Bool(BoolVar),
    Not(Arc<Term>),
    And(Arc<Vec<Term>>),
    Or(Arc<Vec<Term>>),
    StrMatch(StrVar, Glob),
    SetAny(SetVar, ElemPred),
    IntCmp(IntVar, Cmp, i128),
    IpIn(IpVar, Cidr),
}

impl Term {
    pub const TRUE: Term = Term(Node::Const(true));
    pub const FALSE: Term = Term(Node::Const(false));

    pub fn constant(b: bool) -> Term {
        Term(Node::Const(b))
    }

    pub fn var(v: BoolVar) -> Term {
        Term(Node::Bool(v))
    }

    /// The string held by `v` matches `g`.
    pub fn str_match(v: StrVar, g: Glob) -> Term {
        Term(Node::StrMatch(v, g))
    }

    /// Some element of `v` satisfies `p` (`ForAnyValue`); `∀` is `¬∃¬`.
    pub fn set_any(v: SetVar, p: ElemPred) -> Term {
        match p {
            ElemPred::Const(false) => Term::FALSE,
            p => Term(Node::SetAny(v, p)),
        }
    }

    /// Every element of `v` satisfies `p` (true for the empty set).
    pub fn set_all(v: SetVar, p: ElemPred) -> Term {
        Term::not(Term::set_any(v, !p))
    }

    /// The set `v` is empty.
    pub fn set_empty(v: SetVar) -> Term {
        Term::not(Term::set_any(v, ElemPred::Const(true)))
    }

    pub fn int_cmp(v: IntVar, cmp: Cmp, k: i128) -> Term {
        Term(Node::IntCmp(v, cmp, k))
    }

    pub fn ip_in(v: IpVar, c: Cidr) -> Term {
        Term(Node::IpIn(v, c))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(t: Term) -> Term {
        match t.0 {
            Node::Const(b) => Term::constant(!b),
            Node::Not(inner) => Arc::try_unwrap(inner).unwrap_or_else(|shared| (*shared).clone()),
            n => Term(Node::Not(Arc::new(Term(n)))),
        }
    }

    pub fn and(ts: impl IntoIterator<Item = Term>) -> Term {
        let mut out = Vec::new();
        for t in ts {
            match t.0 {
                Node::Const(true) => {}
                Node::Const(false) => return Term::FALSE,
                Node::And(inner) => extend_shared(&mut out, inner),
                n => out.push(Term(n)),
            }
        }
        match out.len() {
            0 => Term::TRUE,
            1 => out.pop().unwrap_or(Term::TRUE),
            _ => Term(Node::And(Arc::new(out))),
        }
    }

    pub fn or(ts: impl IntoIterator<Item = Term>) -> Term {
        let mut out = Vec::new();
        for t in ts {
            match t.0 {
                Node::Const(false) => {}
                Node::Const(true) => return Term::TRUE,
                Node::Or(inner) => extend_shared(&mut out, inner),
                n => out.push(Term(n)),
            }
        }
        match out.len() {
            0 => Term::FALSE,
            1 => out.pop().unwrap_or(Term::FALSE),
            _ => Term(Node::Or(Arc::new(out))),
        }
    }

    pub fn implies(a: Term, b: Term) -> Term {
        Term::or([Term::not(a), b])
    }

    pub fn iff(a: Term, b: Term) -> Term {
        Term::and([Term::implies(a.clone(), b.clone()), Term::implies(b, a)])
    }

    /// Whether the formula is the constant `b`.
    pub fn is_const(&self, b: bool) -> bool {
        self.0 == Node::Const(b)
    }
}
