package sqlstore

import (
	"math/bits"
	"testing"
)

// TestAuditChunks checks that a batch of any size is written by statements of few distinct
// sizes (so that they stay prepared) that add up to the batch.
func TestAuditChunks(t *testing.T) {
	seen := map[int]bool{}
	for n := 0; n <= 3*maxAuditRows+1; n++ {
		sum := 0
		sizes := auditChunks(n)
		for i, size := range sizes {
			if size <= 0 || size > maxAuditRows || bits.OnesCount(uint(size)) != 1 {
				t.Fatalf("auditChunks(%d) = %v: %d is no power of two up to %d", n, sizes, size, maxAuditRows)
			}
			if i > 0 && size > sizes[i-1] {
				t.Fatalf("auditChunks(%d) = %v: not largest first", n, sizes)
			}
			sum += size
			seen[size] = true
		}
		if sum != n || len(sizes) > n/maxAuditRows+8 {
			t.Fatalf("auditChunks(%d) = %v: sum %d, %d statements", n, sizes, sum, len(sizes))
		}
	}
	if len(seen) != bits.Len(maxAuditRows) {
		t.Errorf("statement sizes used: %d; want %d", len(seen), bits.Len(maxAuditRows))
	}
}
