// Command image builds the manager's OCI image without a container
// engine: one layer holding the static manager binary, the CA bundle it
// verifies TLS with, and the passwd and group entries of the nonroot user
// (65532) it runs as, on an empty base. Every timestamp is
// SOURCE_DATE_EPOCH (0 when unset), so the same binary and bundle give the
// same image digest.
//
//	go run . -binary ../../bin/image/manager -tag success-operator:v0.1.0 -out ../../bin/success-operator-v0.1.0.tar
//
// The tarball loads with `docker load`, `podman load` or `ctr images
// import`, and pushes with `crane push`.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonroot is the user and group the manager runs as, as distroless's
// nonroot image names them.
const nonroot = 65532

func main() {
	binary := flag.String("binary", "", "The static manager binary (linux).")
	certs := flag.String("certs", "/etc/ssl/certs/ca-certificates.crt", "The CA bundle to install as /etc/ssl/certs/ca-certificates.crt.")
	tag := flag.String("tag", "success-operator:latest", "The image's name and tag in the tarball.")
	arch := flag.String("arch", runtime.GOARCH, "The image's architecture: the binary's.")
	out := flag.String("out", "", "The tarball to write.")
	flag.Parse()
	if *binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: image -binary FILE -out FILE.tar [-tag NAME:TAG] [-certs FILE] [-arch ARCH]")
		os.Exit(2)
	}
	if err := run(*binary, *certs, *tag, *arch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(binary, certs, tag, arch, out string) error {
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	bundle, err := os.ReadFile(certs)
	if err != nil {
		return err
	}
	img, err := Build(bin, bundle, arch, epoch)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", out, tag, digest)
	return nil
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, the reproducible-builds
// convention for the time a build records; 0 when unset.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Build returns the image: one layer on an empty base, every file and the
// config dated at epoch.
func Build(manager, certs []byte, arch string, epoch time.Time) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar(manager, certs, epoch))), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cfg.Config.WorkingDir = "/"
	cfg.Config.Entrypoint = []string{"/manager"}
	cfg.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.title": "success-operator"}
	cfg.History = []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: "hack/image: the manager, a CA bundle, the nonroot user"}}
	return mutate.ConfigFile(img, cfg)
}

// layerTar is the layer's files, in a fixed order, owned by root except
// nothing the manager writes (it writes no file).
func layerTar(manager, certs []byte, epoch time.Time) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX})
		_, _ = tw.Write(data)
	}
	dir("etc/")
	file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", nonroot))
	file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot))
	dir("etc/ssl/")
	dir("etc/ssl/certs/")
	file("etc/ssl/certs/ca-certificates.crt", 0o644, certs)
	dir("home/")
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: nonroot, Gid: nonroot, ModTime: epoch, Format: tar.FormatPAX})
	file("manager", 0o755, manager)
	_ = tw.Close()
	return buf.Bytes()
}
