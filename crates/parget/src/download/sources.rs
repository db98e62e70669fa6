//! Where a download may fetch from: the request's URL and its mirrors, in
//! order of preference. A source that fails is dropped and the download
//! goes on from the next; the last one is never dropped, so its failures
//! meet the retry policy instead.

use url::Url;

/// The sources of one download.
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    urls: Vec<Url>,
    alive: Vec<bool>,
}

impl Sources {
    /// `first`, then `mirrors`, in that order.
    pub(crate) fn new(first: &Url, mirrors: &[Url]) -> Sources {
        let mut urls = vec![first.clone()];
        urls.extend(mirrors.iter().filter(|m| *m != first).cloned());
        let alive = vec![true; urls.len()];
        Sources { urls, alive }
    }

    /// The preferred source still alive.
    pub(crate) fn current(&self) -> &Url {
        self.urls
            .iter()
            .zip(&self.alive)
            .find_map(|(url, alive)| alive.then_some(url))
            .unwrap_or(&self.urls[0])
    }

    /// Whether the preferred source alive is a mirror, not the URL the
    /// download is known by.
    pub(crate) fn on_a_mirror(&self) -> bool {
        self.current() != &self.urls[0]
    }

    /// Every source still alive, preferred first.
    pub(crate) fn alive(&self) -> Vec<Url> {
        self.urls
            .iter()
            .zip(&self.alive)
            .filter(|(_, alive)| **alive)
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// How many sources are alive.
    pub(crate) fn count(&self) -> usize {
        self.alive.iter().filter(|a| **a).count()
    }

    /// Drops `url`, unless it is the last source alive; true when dropped.
    pub(crate) fn drop_source(&mut self, url: &Url) -> bool {
        if self.count() <= 1 {
            return false;
        }
        match self.urls.iter().position(|u| u == url) {
            Some(i) if self.alive[i] => {
                self.alive[i] = false;
                true
            }
            _ => false,
        }
    }

    /// Drops the current source, unless it is the last; true when dropped.
    pub(crate) fn drop_current(&mut self) -> bool {
        let current = self.current().clone();
        self.drop_source(&current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn sources_are_dropped_in_turn_but_never_the_last() {
        let a = url("http://a/f");
        let mut sources = Sources::new(&a, &[url("http://b/f"), a.clone(), url("http://c/f")]);
        assert_eq!(
            sources.count(),
            3,
            "the URL given again as a mirror counts once"
        );
        assert_eq!(sources.current(), &a);
        assert!(sources.drop_current());
        assert_eq!(sources.current().as_str(), "http://b/f");
        assert!(sources.drop_source(&url("http://c/f")));
        assert!(!sources.drop_source(&url("http://c/f")), "already gone");
        assert!(!sources.drop_current(), "the last one stays");
        assert_eq!(sources.alive(), vec![url("http://b/f")]);
    }
}
