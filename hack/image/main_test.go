package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// TestBuildIsReproducible: the same inputs give the same digest, and the
// layer holds the manager, the bundle and the nonroot user; another epoch
// or another binary gives another digest.
func TestBuildIsReproducible(t *testing.T) {
	epoch := time.Unix(1767225600, 0).UTC()
	digest := func(manager []byte, at time.Time) string {
		t.Helper()
		img, err := Build(manager, []byte("-----BEGIN CERTIFICATE-----\n"), "amd64", at)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/manager" || !cfg.Created.Equal(at) {
			t.Errorf("config = %+v", cfg.Config)
		}
		return d.String()
	}
	first := digest([]byte("manager v1"), epoch)
	if again := digest([]byte("manager v1"), epoch); again != first {
		t.Errorf("the same inputs gave %s, then %s", first, again)
	}
	if other := digest([]byte("manager v1"), epoch.Add(time.Second)); other == first {
		t.Error("another epoch gave the same digest")
	}
	if other := digest([]byte("manager v2"), epoch); other == first {
		t.Error("another binary gave the same digest")
	}

	files := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(layerTar([]byte("manager v1"), []byte("bundle"), epoch)))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s dated %s, want the epoch", h.Name, h.ModTime)
		}
		files[h.Name] = h
	}
	for name, mode := range map[string]int64{"manager": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644, "etc/passwd": 0o644, "etc/group": 0o644} {
		if h := files[name]; h == nil || h.Mode != mode {
			t.Errorf("%s: %+v, want mode %o", name, h, mode)
		}
	}
}
