package server_test

import (
	"testing"

	"github.com/tarnhq/tarn/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
